package restart

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// resetConn makes, in the process, the TCP connection f as one its peer
// reset (cr_checkpoint --tcp-close, cr_restart --tcp-close): a connection
// over loopback to a listener made for it, whose accepted end closes with
// SO_LINGER 0. Its first read or write fails with ECONNRESET, later
// reads see end of file and writes EPIPE, as after any reset; its
// addresses are loopback ones, not those it had.
//
// Precondition: called on the owner thread.
func (b *builder) resetConn(f *image.Fd) (uint64, error) {
	c := f.TCP
	loop := map[int]string{unix.AF_INET: "127.0.0.1:0", unix.AF_INET6: "[::1]:0"}[c.Family]
	if loop == "" {
		return 0, fmt.Errorf("TCP connection of family %d: image damaged", c.Family)
	}
	sa, err := sockaddr(&image.Listener{Family: c.Family, Addr: loop})
	if err != nil {
		return 0, err
	}
	fail := func(what string, err error) (uint64, error) {
		return 0, fmt.Errorf("tcp %s connected to %s, made reset: %s: %w", c.Local, c.Peer, what, err)
	}
	l, err := b.call(unix.SYS_SOCKET, uint64(c.Family), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", err)
	}
	defer b.call(unix.SYS_CLOSE, l)
	if err := b.bind(l, sa); err != nil {
		return fail("bind "+loop, err)
	}
	if _, err := b.call(unix.SYS_LISTEN, l, 1); err != nil {
		return fail("listen", err)
	}
	// getsockname: the port, into the address's place; its length after.
	size := make([]byte, 4)
	binary.LittleEndian.PutUint32(size, 128)
	if err := b.mem.WriteAt(size, b.scratch+scratchStat); err != nil {
		return 0, err
	}
	if _, err := b.call(unix.SYS_GETSOCKNAME, l, b.scratch+scratchAddr, b.scratch+scratchStat); err != nil {
		return fail("getsockname", err)
	}
	if err := b.mem.ReadAt(size, b.scratch+scratchStat); err != nil {
		return 0, err
	}
	fd, err := b.call(unix.SYS_SOCKET, uint64(c.Family), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", err)
	}
	ok := false
	defer func() {
		if !ok {
			b.call(unix.SYS_CLOSE, fd)
		}
	}()
	if _, err := b.call(unix.SYS_CONNECT, fd, b.scratch+scratchAddr, uint64(binary.LittleEndian.Uint32(size))); err != nil {
		return fail("connect", err)
	}
	peer, err := b.call(unix.SYS_ACCEPT4, l, 0, 0, unix.SOCK_CLOEXEC)
	if err != nil {
		return fail("accept", err)
	}
	linger := make([]byte, 8)
	binary.LittleEndian.PutUint32(linger, 1) // l_onoff 1, l_linger 0
	err = b.setRaw(peer, unix.SOL_SOCKET, unix.SO_LINGER, linger)
	b.call(unix.SYS_CLOSE, peer)
	if err != nil {
		return fail("SO_LINGER", err)
	}
	if f.Flags&unix.O_NONBLOCK != 0 {
		if _, err := b.call(unix.SYS_FCNTL, fd, unix.F_SETFL, unix.O_NONBLOCK); err != nil {
			return fail("O_NONBLOCK", err)
		}
	}
	ok = true
	return fd, nil
}

// outsideReset is a connection to a peer outside, saved to go on, that a
// restart with --tcp-close brings back reset: its peer is to hear of it
// (resetPeers), and pid is a restored process in whose network
// namespace it was.
type outsideReset struct {
	pid int
	c   *image.TCPConn
}

// resetPeers resets, from here, the connections to peers outside that
// the restart brought back reset (cr_restart --tcp-close of connections
// saved with --tcp-established), once the checkpoint's rule no longer
// drops their peers' packets: so a peer hears of it at once, not when it
// next sends, which a client that only reads may never do. Each reset is
// a connection made again in repair mode and closed with SO_LINGER 0,
// twice: with the sequence number its peer had acknowledged, and with
// the one after what it had sent; the peer takes the one its receive
// window starts at (if all it was sent arrived, the second; if it had
// acknowledged it all, the first) and answers any other with a
// challenge ACK, which may not come back while the socket closes. Best
// effort: without CAP_NET_ADMIN, in another network namespace than
// cr_restart's, or with a socket already on the connection (an earlier
// restart put it back), nothing is sent.
func (s *shared) resetPeers() {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return
	}
	for _, r := range s.resets {
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", r.pid)); err != nil || ns != self {
			continue
		}
		c := r.c
		if c.NotSent < 0 || c.NotSent > len(c.SendQueue) {
			continue
		}
		// Where its peer's receive window may start: what it had
		// acknowledged; the end of what had been sent; the end of the
		// window it had offered (until it was killed, the connection
		// went on sending into it).
		sent := c.SendSeq + uint32(len(c.SendQueue)-c.NotSent)
		edge := c.SendSeq + uint32(min(len(c.SendQueue), int(c.Window[1])))
		tried := map[uint32]bool{}
		for _, seq := range []uint32{edge, sent, c.SendSeq} {
			if !tried[seq] {
				tried[seq] = true
				if resetAt(c, seq) != nil {
					break
				}
			}
		}
	}
	s.resets = nil
}

// resetAt sends c's peer a reset with sequence number seq, from a socket
// made in repair mode on c's addresses. It carries no timestamp, so that
// its peer's PAWS check lets it through whatever clock it last saw.
func resetAt(c *image.TCPConn, seq uint32) error {
	local, err1 := inetSockaddr(c.Local)
	peer, err2 := inetSockaddr(c.Peer)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	fd, err := unix.Socket(c.Family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	steps := []func() error{
		func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 1) },
		func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, tcpSendQueue) },
		func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ, int(seq)) },
		func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, tcpRecvQueue) },
		func() error {
			return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ, int(c.RecvSeq+uint32(len(c.RecvQueue))))
		},
		func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, 0) },
		func() error { return unix.Bind(fd, local) },
		func() error { return unix.Connect(fd, peer) },
		func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 0) },
		func() error {
			return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// inetSockaddr is the IPv4 or IPv6 address ip:port.
func inetSockaddr(addr string) (unix.Sockaddr, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, nil
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}, nil
}
