package checkpoint

import (
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
// connection made through a listener of the set (the accepted end bears
// its name) is one of them, made again with its names, and so is a
// datagram pair whose ends have abstract names. Above the standard
// streams, a datagram socket connected to a bound one, of the set (a
// server's, which others may send to too) or outside it (such as
// /dev/log), is made again with its own name and connected to that one
// once the restart has made every process, with the datagrams from it
// waiting; with cut (--cut-pipes) a stream or seqpacket connection
// outside the set is saved as cut from its peer. Last, the bound unix
// datagram sockets of the set that are connected to nothing and have
// datagrams waiting are described as servers' sockets (serverQueues).
//
// live are the pids of the set's processes that have not exited, which
// may be the senders of what waits in a queue.
func socketPairs(all []openFd, live map[int]bool, set func(openFd, image.Fd), cut bool) error {
	held := map[uint64]openFd{} // an fd of each socket the set holds
	for _, o := range all {
		if ino, ok := linkIno(o.link, "socket"); ok {
			if _, dup := held[ino]; !dup {
				held[ino] = o
			}
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
	names := dgramNames(held, socks)
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
		peer := socks[s.Peer]
		if peer != nil {
			dest, named = connectName(peer.Name)
		}
		peerFd, inSet := held[s.Peer]
		inSet = inSet && s.Peer != 0
		mutual := inSet && peer != nil && peer.State == sockdiag.StateConnected && peer.Peer == ino
		switch {
		case mutual && s.Name == "" && peer.Name == "":
			// A pair inside the set.
		case mutual && s.Type != unix.SOCK_DGRAM:
			// A connection accepted from a server of the set bound to a
			// name, or made by an end bound before it connected.
			var ok bool
			if sk.Name, ok = ownName(s); !ok {
				return fmt.Errorf("pid %d fd %d (%s): unix socket bound to the relative path %q: not supported", o.pid, o.fd, o.link, s.Name)
			}
			if sk.PeerName, ok = ownName(peer); !ok {
				return fmt.Errorf("pid %d fd %d (%s): unix socket connected to one bound to the relative path %q: not supported", o.pid, o.fd, o.link, peer.Name)
			}
		case mutual && s.Type == unix.SOCK_DGRAM && abstract(s.Name) && abstract(peer.Name):
			// A datagram pair with abstract names (sending with
			// SO_PASSCRED binds a socket to one): only each end may
			// send to the other, names or not.
			sk.Name, _ = ownName(s)
			sk.PeerName, _ = ownName(peer)
		case s.Type == unix.SOCK_DGRAM && named && o.fd > 2:
			if inSet && names[dest] != s.Peer {
				return fmt.Errorf("pid %d fd %d (%s): unix datagram socket connected to %s, a socket of the image that a restart would not make again with that name (a standard stream, or a name two sockets hold): not supported", o.pid, o.fd, o.link, dest)
			}
			sk.Connect = dest
			if sk.Name, sk.Mode, err = ownDgramName(o, s); err != nil {
				return err
			}
		case inSet:
			continue // connected to a socket of the set not connected back: refused
		case o.fd <= 2:
			continue // a standard stream: the restart's own is given
		case s.Type != unix.SOCK_DGRAM && cut:
			sk.Outside = true
		default:
			continue // described on its own: refused
		}
		if sk.Opts, err = pairOpts(o, s.Type); err != nil {
			return err
		}
		if mutual {
			if sk.PeerOpts, err = pairOpts(peerFd, s.Type); err != nil {
				return err
			}
		}
		if !seen[ino] {
			seen[ino] = true
			if sk.Connect != "" {
				sk.Queue, err = connectedQueue(o, sk, names, socks)
			} else {
				sk.Queue, sk.Passed, sk.Creds, err = peekQueue(o, all, live)
			}
			if err != nil {
				return err
			}
		}
		set(o, image.Fd{Kind: image.FdSocket, Socket: sk})
	}
	return serverQueues(held, socks, names, set)
}

// pairOpts reads the options of the socket of o that differ from a new
// one's, through a duplicate (pidfd_getfd).
func pairOpts(o openFd, typ int) ([]image.SockOpt, error) {
	dup, err := kernel.TakeFd(o.pid, o.fd, o.link)
	if err != nil {
		return nil, err
	}
	defer dup.Close()
	opts, err := changedOpts(int(dup.Fd()), unix.AF_UNIX, typ, 0)
	if err != nil {
		return nil, fmt.Errorf("pid %d fd %d (%s): %w", o.pid, o.fd, o.link, err)
	}
	return opts, nil
}

// ownName is the name of s as the image keeps it ("" for none); false
// for a relative path.
func ownName(s *sockdiag.Unix) (string, bool) {
	if s == nil || s.Name == "" {
		return "", true
	}
	return connectName(s.Name)
}

// abstract says whether a unix socket's name is abstract, or none.
func abstract(name string) bool {
	return name == "" || strings.HasPrefix(name, "\x00")
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
