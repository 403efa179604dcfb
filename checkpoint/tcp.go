package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/netlock"
)

// The queues TCP_REPAIR_QUEUE selects.
const (
	tcpNoQueue   = 0
	tcpRecvQueue = 1
	tcpSendQueue = 2

	tcpEstablished = 1
)

// tcpConns marks, through set, the first fd of each established TCP
// connection whose other end is also held in the set (a client and a
// server of the image, over loopback), described through TCP_REPAIR;
// and, as Options.TCP says, of each one whose peer is outside the set.
// Other fds of the same connection are then found as shared. The
// duplicates it takes stay open, in s.tcp, until the processes are let
// go: a --kill checkpoint puts them back in repair mode first, so that
// the killed processes close them without a word to the network. The
// peers outside are kept from hearing anything either: from before
// their connections are read until the restart (package netlock).
func (s *Set) tcpConns(all []openFd, set func(openFd, image.Fd)) error {
	type end struct {
		o           openFd
		ino         uint64
		local, peer string
	}
	var ends []end
	at := map[string]bool{} // "local peer" of every established connection
	for _, o := range all {
		ino, ok := linkIno(o.link, "socket")
		if !ok {
			continue
		}
		dup, err := kernel.TakeFd(o.pid, o.fd, o.link)
		if err != nil {
			continue
		}
		local, peer, ok := established(int(dup.Fd()))
		dup.Close()
		if ok {
			ends = append(ends, end{o, ino, local, peer})
			at[local+" "+peer] = true
		}
	}
	mode := TCPRefuse
	if len(s.procs) > 0 {
		mode = s.procs[0].opt.TCP
	}
	seen := map[uint64]bool{}
	var outside []end
	for _, e := range ends {
		if seen[e.ino] {
			continue // another fd of one described
		}
		seen[e.ino] = true
		if !at[e.peer+" "+e.local] {
			outside = append(outside, e) // refused by describeFd unless an option says
			continue
		}
		if err := s.repairConn(e.o, e.local, e.peer, set, nil); err != nil {
			return err
		}
	}
	if len(outside) == 0 || mode == TCPRefuse {
		return nil
	}
	if mode == TCPClose {
		for _, e := range outside {
			dup, err := kernel.TakeFd(e.o.pid, e.o.fd, e.o.link)
			if err != nil {
				return err
			}
			family, _ := unix.GetsockoptInt(int(dup.Fd()), unix.SOL_SOCKET, unix.SO_DOMAIN)
			s.reset = append(s.reset, dup)
			set(e.o, image.Fd{Kind: image.FdTCP, TCP: &image.TCPConn{Family: family, Local: e.local, Peer: e.peer, Closed: true}})
		}
		return nil
	}
	// --tcp-established: hold every peer's packets, then read the
	// connections, which nothing changes any more.
	byNetns := map[string][]end{}
	for _, e := range outside {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", e.o.pid))
		if err != nil {
			return fmt.Errorf("pid %d: its network namespace: %w", e.o.pid, err)
		}
		byNetns[ns] = append(byNetns[ns], e)
	}
	for _, es := range byNetns {
		var conns []netlock.Conn
		for _, e := range es {
			local, err1 := netip.ParseAddrPort(e.local)
			peer, err2 := netip.ParseAddrPort(e.peer)
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("pid %d fd %d: tcp %s connected to %s: %w", e.o.pid, e.o.fd, e.local, e.peer, err)
			}
			conns = append(conns, netlock.Conn{Local: local, Peer: peer})
		}
		lock, err := netlock.Hold(netlock.NewName(), fmt.Sprintf("/proc/%d/ns/net", es[0].o.pid), conns)
		if err != nil {
			e := es[0]
			return fmt.Errorf("pid %d fd %d: tcp %s connected to %s (%s), outside the checkpoint: keeping its peer from seeing it go: %w; checkpoint as root, or with --tcp-close", e.o.pid, e.o.fd, e.local, e.peer, e.o.link, err)
		}
		s.locks = append(s.locks, lock)
		for _, e := range es {
			if err := s.repairConn(e.o, e.local, e.peer, set, lock); err != nil {
				return err
			}
		}
	}
	return nil
}

// repairConn describes the connection o through TCP_REPAIR; lock, for
// one to a peer outside, is what holds its peer's packets.
func (s *Set) repairConn(o openFd, local, peer string, set func(openFd, image.Fd), lock *netlock.Lock) error {
	dup, err := kernel.TakeFd(o.pid, o.fd, o.link)
	if err != nil {
		return err
	}
	c, err := repairState(int(dup.Fd()))
	if err != nil {
		dup.Close()
		hint := ""
		if lock != nil && errors.Is(err, unix.EPERM) {
			hint = ", or with --tcp-close"
		}
		return fmt.Errorf("pid %d fd %d: tcp %s connected to %s (%s): %w%s", o.pid, o.fd, local, peer, o.link, err, hint)
	}
	s.tcp = append(s.tcp, dup)
	c.Local, c.Peer = local, peer
	if lock != nil {
		c.Outside, c.Lock = true, lock.Name()
	}
	set(o, image.Fd{Kind: image.FdTCP, TCP: c})
	return nil
}

// unlock ends what the checkpoint held of its peers' packets: for a
// --kill checkpoint (killed), rules that outlive it until the restart;
// else none, and the peers retransmit what was dropped meanwhile.
func (s *Set) unlock(killed bool) error {
	var errs []error
	for _, l := range s.locks {
		if killed {
			if err := l.Keep(); err != nil {
				errs = append(errs, fmt.Errorf("keeping the packets of the TCP connections outside the checkpoint from their killed processes' host (its peers may see a reset): %w", err))
			}
		} else if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.locks = nil
	return errors.Join(errs...)
}

// established says whether fd is an established TCP connection, and
// between which addresses.
func established(fd int) (local, peer string, ok bool) {
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
		return "", "", false
	}
	if d, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); d != unix.AF_INET && d != unix.AF_INET6 {
		return "", "", false
	}
	if st, err := tcpState(fd); err != nil || st != tcpEstablished {
		return "", "", false
	}
	l, err1 := unix.Getsockname(fd)
	p, err2 := unix.Getpeername(fd)
	if err1 != nil || err2 != nil {
		return "", "", false
	}
	return inetAddr(l), inetAddr(p), true
}

func inetAddr(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String()
	}
	return ""
}

// repairState reads a connection's state in repair mode, and leaves
// repair mode without the window probe that leaving it sends otherwise:
// the connection goes on as if nothing had looked.
func repairState(fd int) (c *image.TCPConn, err error) {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 1); err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("saving a TCP connection needs CAP_NET_ADMIN (TCP_REPAIR): checkpoint as root")
		}
		return nil, fmt.Errorf("TCP_REPAIR: %w", err)
	}
	defer func() {
		if e := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_OFF_NO_WP); e != nil {
			err = errors.Join(err, fmt.Errorf("leaving TCP repair mode: %w", e))
		}
	}()
	c = &image.TCPConn{}
	c.Family, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	var send, recv uint32
	if send, c.SendQueue, err = repairQueue(fd, tcpSendQueue, unix.SIOCOUTQ); err != nil {
		return nil, fmt.Errorf("its send queue: %w", err)
	}
	if recv, c.RecvQueue, err = repairQueue(fd, tcpRecvQueue, unix.SIOCINQ); err != nil {
		return nil, fmt.Errorf("its receive queue: %w", err)
	}
	c.SendSeq, c.RecvSeq = send-uint32(len(c.SendQueue)), recv-uint32(len(c.RecvQueue))
	if c.NotSent, err = unix.IoctlGetInt(fd, unix.SIOCOUTQNSD); err != nil {
		return nil, fmt.Errorf("SIOCOUTQNSD: %w", err)
	}
	c.NotSent = min(max(c.NotSent, 0), len(c.SendQueue))
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, tcpNoQueue); err != nil {
		return nil, err
	}
	if c.MSS, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG); err != nil {
		return nil, fmt.Errorf("TCP_MAXSEG: %w", err)
	}
	// struct tcp_info: options at byte 5, the window scales at byte 6
	// (x/sys/unix's TCPInfo leaves that byte out).
	info := make([]byte, 8)
	if _, err := kernel.GetsockoptBytes(fd, unix.IPPROTO_TCP, unix.TCP_INFO, info); err != nil {
		return nil, fmt.Errorf("TCP_INFO: %w", err)
	}
	c.Timestamps, c.SACK, c.Wscale = info[5]&1 != 0, info[5]&2 != 0, info[5]&4 != 0
	c.SndWscale, c.RcvWscale = int(info[6]&0xf), int(info[6]>>4)
	ts, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_TIMESTAMP)
	if err != nil {
		return nil, fmt.Errorf("TCP_TIMESTAMP: %w", err)
	}
	c.Timestamp, c.TimestampAt = uint32(ts), time.Now().UnixNano()
	w := make([]byte, 20)
	if n, err := kernel.GetsockoptBytes(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_WINDOW, w); err != nil || n != 20 {
		return nil, fmt.Errorf("TCP_REPAIR_WINDOW: %d bytes, %v", n, err)
	}
	for i := range c.Window {
		c.Window[i] = binary.LittleEndian.Uint32(w[4*i:])
	}
	domain, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if c.Opts, err = changedOpts(fd, domain, unix.SOCK_STREAM, 0); err != nil {
		return nil, err
	}
	return c, nil
}

// repairQueue reads, in repair mode, the sequence number that ends a
// queue and the bytes in it (size is the ioctl that tells their count).
func repairQueue(fd, queue int, size uint) (uint32, []byte, error) {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, queue); err != nil {
		return 0, nil, fmt.Errorf("TCP_REPAIR_QUEUE: %w", err)
	}
	seq, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ)
	if err != nil {
		return 0, nil, fmt.Errorf("TCP_QUEUE_SEQ: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, size)
	if err != nil {
		return 0, nil, err
	}
	if n > 64<<20 {
		return 0, nil, fmt.Errorf("%d bytes queued: too many", n)
	}
	buf := make([]byte, n)
	got := 0
	if n > 0 {
		if got, _, err = unix.Recvfrom(fd, buf, unix.MSG_PEEK|unix.MSG_DONTWAIT); err != nil {
			return 0, nil, err
		}
	}
	if got != n {
		return 0, nil, fmt.Errorf("%d of %d bytes read", got, n)
	}
	return uint32(seq), buf, nil
}

// killQuietly puts the connections held back into repair mode, just
// before the processes holding them are killed: closed in repair mode, a
// connection ends without a FIN or a reset, and leaves no TIME_WAIT on
// its addresses for the restart to meet.
func killQuietly(held []*os.File) {
	for _, f := range held {
		unix.SetsockoptInt(int(f.Fd()), unix.IPPROTO_TCP, unix.TCP_REPAIR, 1)
	}
}

// killResetting has the connections saved with --tcp-close reset, when
// the killed processes close them, rather than ended with a FIN: their
// peers see ECONNRESET, as the restarted processes will, not an end of
// stream they could take for a whole answer.
func killResetting(conns []*os.File) {
	for _, f := range conns {
		unix.SetsockoptLinger(int(f.Fd()), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
}
