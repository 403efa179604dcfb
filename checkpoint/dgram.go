package checkpoint

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/sockdiag"
)

// Unix datagram sockets that talk to bound ones of the set: a server
// bound to a name, with datagrams from its clients waiting on it, and
// clients connected to it, with its replies waiting on them. A restart
// sends each datagram again from a socket that recvfrom names as the
// original sender was named: a new unnamed one, or the restored socket
// of the image bound to that name.

// dgramNames maps the names ("/path", "@abstract") of the unix datagram
// sockets the set holds (above the standard streams) to their inodes; a
// name two of them hold (a path bound again after its file was removed)
// maps to 0.
func dgramNames(held map[uint64]openFd, socks map[uint64]*sockdiag.Unix) map[string]uint64 {
	names := map[string]uint64{}
	for ino, o := range held {
		s := socks[ino]
		if s == nil || s.Type != unix.SOCK_DGRAM || o.fd <= 2 {
			continue
		}
		if name, ok := connectName(s.Name); ok {
			if _, two := names[name]; two {
				ino = 0
			}
			names[name] = ino
		}
	}
	return names
}

// ownDgramName is the name a datagram socket of the set is made again
// with ("" for none) and, for a path, its socket file's permissions. A
// relative path is refused: recvfrom shows a name as it was bound, and
// a restart binds an absolute one.
func ownDgramName(o openFd, s *sockdiag.Unix) (string, uint32, error) {
	if s.Name != "" && s.Name[0] != 0 && s.Name[0] != '/' {
		return "", 0, fmt.Errorf("pid %d fd %d (%s): unix datagram socket bound to the relative path %q: not supported", o.pid, o.fd, o.link, s.Name)
	}
	name, mode, err := sockName(o.pid, s)
	if err != nil {
		return "", 0, fmt.Errorf("pid %d fd %d (%s): unix datagram socket: %w", o.pid, o.fd, o.link, err)
	}
	return name, mode, nil
}

// dgramQueue reads the datagrams waiting on the unix datagram socket of
// o without taking them, with their senders' names (as the image keeps
// them: "" for an unnamed sender), through a duplicate (pidfd_getfd),
// with a peek offset that walks the queue and is put back as it was
// afterwards (a datagram socket reads no end of file: EAGAIN ends the
// walk, and 0 bytes are an empty datagram). Each named sender must be a socket of the set (names, from
// dgramNames), from which a restart sends the datagram again; one
// outside the set, or gone, is refused, as are datagrams carrying files
// or credentials.
func dgramQueue(o openFd, names map[string]uint64, socks map[uint64]*sockdiag.Unix) (q [][]byte, from []string, err error) {
	dup, err := kernel.TakeFd(o.pid, o.fd, o.link)
	if err != nil {
		return nil, nil, err
	}
	defer dup.Close()
	fd := int(dup.Fd())
	fail := func(err error) ([][]byte, []string, error) {
		return nil, nil, fmt.Errorf("pid %d fd %d (%s): unix datagram socket, its queue: %w", o.pid, o.fd, o.link, err)
	}
	old, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF)
	if err != nil {
		return fail(os.NewSyscallError("getsockopt(SO_PEEK_OFF)", err))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0); err != nil {
		return fail(os.NewSyscallError("setsockopt(SO_PEEK_OFF)", err))
	}
	defer unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, old)
	buf := make([]byte, 1<<20)
	for len(q) < 1<<16 {
		n, raw, flags, err := kernel.PeekFrom(fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return q, from, nil
		}
		if err != nil {
			return fail(err)
		}
		i := len(q) + 1
		if flags&unix.MSG_TRUNC != 0 {
			return fail(fmt.Errorf("datagram %d is longer than %d bytes", i, len(buf)))
		}
		if flags&unix.MSG_CTRUNC != 0 {
			return fail(fmt.Errorf("datagram %d carries files or credentials (SCM_RIGHTS, or SO_PASSCRED on it): not supported yet for a socket other than an end of a pair", i))
		}
		name := ""
		if raw != "" {
			if err := dgramSender(raw, names, socks); err != nil {
				return fail(fmt.Errorf("datagram %d: %w", i, err))
			}
			name, _ = connectName(raw)
		}
		q = append(q, append([]byte(nil), buf[:n]...))
		from = append(from, name)
	}
	return fail(fmt.Errorf("more than %d datagrams", 1<<16))
}

// dgramSender checks that the sender of a datagram, named raw as the
// kernel keeps it, is a socket of the set that a restart makes again
// with that name.
func dgramSender(raw string, names map[string]uint64, socks map[uint64]*sockdiag.Unix) error {
	name, ok := connectName(raw)
	if !ok {
		return fmt.Errorf("from a socket bound to the relative path %q: not supported", raw)
	}
	switch ino, in := names[name]; {
	case in && ino != 0:
		return nil
	case in:
		return fmt.Errorf("from %s, a name that two sockets of the image hold (a path bound again after its file was removed): a restart could not tell which sent it", name)
	}
	for _, s := range socks {
		if s.Name == raw {
			return fmt.Errorf("from %s, a socket outside the image: a restart could not send it again from that name; checkpoint once it is read, or with its sender", name)
		}
	}
	return fmt.Errorf("from %s, a socket since closed: a restart could not send it again from that name; checkpoint once it is read", name)
}

// serverQueues describes, through set, the unbound or bound unix
// datagram sockets of the set connected to nothing that have datagrams
// waiting (on the first fd of each): as servers' sockets, with their
// queues and senders. Those with none are described by listener.
func serverQueues(held map[uint64]openFd, socks map[uint64]*sockdiag.Unix, names map[string]uint64, set func(openFd, image.Fd)) error {
	for ino, o := range held {
		s := socks[ino]
		// sock_diag shows an unconnected datagram socket as connected
		// (TCP_ESTABLISHED) on Linux 6.18: only a peer tells.
		if s == nil || s.Type != unix.SOCK_DGRAM || s.Peer != 0 || o.fd <= 2 {
			continue
		}
		q, from, err := dgramQueue(o, names, socks)
		if err != nil {
			return err
		}
		if len(q) == 0 {
			continue
		}
		l, ok, err := serverSocket(o.pid, o.fd, o.link, true)
		if err != nil {
			return err
		}
		if !ok {
			continue // not a server's after all: refused by describeFd
		}
		if l.Addr == "" {
			return fmt.Errorf("pid %d fd %d (%s): unbound unix datagram socket with %d datagrams waiting on it, which a restart could not send to it again: not supported", o.pid, o.fd, o.link, len(q))
		}
		l.Queue, l.From = q, from
		set(o, image.Fd{Kind: image.FdListener, Listener: l})
	}
	return nil
}

// connectedQueue reads the datagrams waiting on sk, a datagram socket of
// o connected to a bound socket: each must come from the socket it is
// connected to, of the set, and sk must have a name to send them to.
func connectedQueue(o openFd, sk *image.Socket, names map[string]uint64, socks map[uint64]*sockdiag.Unix) ([][]byte, error) {
	q, from, err := dgramQueue(o, names, socks)
	if err != nil {
		return nil, err
	}
	for i, f := range from {
		if f != sk.Connect {
			who := f
			if who == "" {
				who = "an unnamed socket"
			}
			return nil, fmt.Errorf("pid %d fd %d (%s): unix datagram socket connected to %s: datagram %d waiting on it is from %s, sent before it connected, which a restart could not send to it again: not supported", o.pid, o.fd, o.link, sk.Connect, i+1, who)
		}
	}
	if len(q) > 0 && sk.Name == "" {
		return nil, fmt.Errorf("pid %d fd %d (%s): unnamed unix datagram socket connected to %s with %d datagrams waiting on it, which a restart could not send to it again: not supported", o.pid, o.fd, o.link, sk.Connect, len(q))
	}
	return q, nil
}
