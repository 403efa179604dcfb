package restart

import (
	"encoding/binary"
	"fmt"

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
