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
// each end; and, above the standard streams, those connected outside it
// that a restart can make again: a datagram socket connected to a bound
// one (such as /dev/log) is connected to it again, and with cut (--cut-pipes)
// a stream or seqpacket connection is saved as cut from its peer.
func socketPairs(all []openFd, set func(openFd, image.Fd), cut bool) error {
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
		if s == nil || s.State != sockdiag.StateConnected {
			continue
		}
		sk := &image.Socket{Ino: ino, Peer: s.Peer, Type: s.Type, Shutdown: s.Shutdown}
		var dest string
		named := false
		if peer := socks[s.Peer]; peer != nil {
			dest, named = connectName(peer.Name)
		}
		switch {
		case s.Peer != 0 && held[s.Peer] && s.Name == "":
			// A pair inside the set.
		case o.fd <= 2:
			continue // a standard stream: the restart's own is given
		case s.Type == unix.SOCK_DGRAM && named && !held[s.Peer]:
			sk.Connect = dest
		case s.Type != unix.SOCK_DGRAM && cut && !held[s.Peer]:
			sk.Outside = true
		default:
			continue // described on its own: refused
		}
		if !seen[ino] {
			seen[ino] = true
			if sk.Queue, err = peekQueue(o); err != nil {
				return err
			}
			if sk.Connect != "" && len(sk.Queue) > 0 {
				return fmt.Errorf("pid %d fd %d (%s): unix datagram connected to %s: %d datagrams from it wait to be read, which a restart cannot send again", o.pid, o.fd, o.link, sk.Connect, len(sk.Queue))
			}
		}
		set(o, image.Fd{Kind: image.FdSocket, Socket: sk})
	}
	return nil
}

// connectName is the name of a bound unix socket outside the checkpoint
// as a restart connects to it: an absolute path, or "@" and an abstract
// name; false for a relative path, whose directory we cannot know.
func connectName(name string) (string, bool) {
	switch {
	case strings.HasPrefix(name, "\x00"):
		return "@" + name[1:], true
	case strings.HasPrefix(name, "/"):
		return name, true
	}
	return "", false
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
