package checkpoint

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/sockdiag"
)

// socketPairs marks, through set, the fds that are ends of connected unix
// sockets whose peer is also in the set, with what waits to be read from
// each end; each end's peer must be the other. A stream or seqpacket
// connection made through a listener (the accepted end bears the
// listener's name) is one of them: it is made again as a pair, without the
// name. A named datagram socket is not, nor one connected to a socket
// that is not connected back: others may send to it too.
func socketPairs(all []openFd, set func(openFd, image.Fd)) error {
	held := map[uint64]bool{}
	for _, o := range all {
		if ino, ok := linkIno(o.link, "socket"); ok {
			held[ino] = true
		}
	}
	if len(held) == 0 {
		return nil
	}
	socks, err := sockdiag.UnixSockets()
	if err != nil {
		return err
	}
	seen := map[uint64]bool{}
	for _, o := range all {
		ino, ok := linkIno(o.link, "socket")
		if !ok {
			continue
		}
		s := socks[ino]
		if !pairEnd(s) || !held[s.Peer] || !pairEnd(socks[s.Peer]) || socks[s.Peer].Peer != ino {
			continue // not a pair inside the set: described on its own (stdio, or refused)
		}
		sk := &image.Socket{Ino: ino, Peer: s.Peer, Type: s.Type, Shutdown: s.Shutdown}
		if !seen[ino] {
			seen[ino] = true
			if sk.Queue, err = peekQueue(o); err != nil {
				return err
			}
		}
		set(o, image.Fd{Kind: image.FdSocket, Socket: sk})
	}
	return nil
}

// pairEnd tells whether s may be one end of a pair: connected, and not a
// named datagram socket.
func pairEnd(s *sockdiag.Unix) bool {
	return s != nil && s.State == sockdiag.StateConnected && s.Peer != 0 && (s.Name == "" || s.Type != unix.SOCK_DGRAM)
}

// linkIno reads the inode of an fd link such as "socket:[123]" whose
// kind is kind.
func linkIno(link, kind string) (uint64, bool) {
	rest, ok := strings.CutPrefix(link, kind+":[")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
	return ino, err == nil
}

// peekQueue reads the messages waiting on the socket of o without taking
// them: on a duplicate (pidfd_getfd), MSG_PEEK with a peek offset that
// walks the queue, which is put back to its default afterwards.
func peekQueue(o openFd) ([][]byte, error) {
	dup, err := kernel.TakeFd(o.pid, o.fd, o.link)
	if err != nil {
		return nil, err
	}
	defer dup.Close()
	fd := int(dup.Fd())
	fail := func(err error) ([][]byte, error) {
		return nil, fmt.Errorf("pid %d fd %d (%s): its queue: %w", o.pid, o.fd, o.link, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0); err != nil {
		return fail(err)
	}
	defer unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, -1)
	var q [][]byte
	buf, oob := make([]byte, 1<<20), make([]byte, 256)
	for len(q) < 1<<16 {
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) || err == nil && n == 0 {
			return q, nil
		}
		if err != nil {
			return fail(err)
		}
		if oobn > 0 {
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, m := range msgs {
					if fds, err := unix.ParseUnixRights(&m); err == nil {
						for _, f := range fds {
							unix.Close(f) // peeking passed us copies
						}
					}
				}
			}
			return fail(fmt.Errorf("it carries passed file descriptors or credentials: not supported yet"))
		}
		if flags&unix.MSG_TRUNC != 0 {
			return fail(fmt.Errorf("a message longer than %d bytes", len(buf)))
		}
		q = append(q, append([]byte(nil), buf[:n]...))
	}
	return fail(fmt.Errorf("more than %d messages", 1<<16))
}
