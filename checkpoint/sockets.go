package checkpoint

import (
	"errors"
	"fmt"
	"os"
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
// its name) is one of them, made again with its names. Above the
// standard streams, a datagram socket connected to a bound one, of the
// set (a server's, which others may send to too) or outside it (such as
// /dev/log), is made again with its own name and connected to that one
// once the restart has made every process, with the datagrams from it
// waiting; with cut (--cut-pipes) a stream or seqpacket connection
// outside the set is saved as cut from its peer. Last, the bound unix
// datagram sockets of the set that are connected to nothing and have
// datagrams waiting are described as servers' sockets (serverQueues).
func socketPairs(all []openFd, set func(openFd, image.Fd), cut bool) error {
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
				sk.Queue, sk.Passed, err = peekQueue(o)
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
// walks the queue, which is put back to its default afterwards. The files
// passed with a message (SCM_RIGHTS), which peeking passes to us too,
// are described by passedFile.
func peekQueue(o openFd) ([][]byte, [][]image.PassedFile, error) {
	dup, err := kernel.TakeFd(o.pid, o.fd, o.link)
	if err != nil {
		return nil, nil, err
	}
	defer dup.Close()
	fd := int(dup.Fd())
	fail := func(err error) ([][]byte, [][]image.PassedFile, error) {
		return nil, nil, fmt.Errorf("pid %d fd %d (%s): its queue: %w", o.pid, o.fd, o.link, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0); err != nil {
		return fail(err)
	}
	defer unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, -1)
	var q [][]byte
	var passed [][]image.PassedFile
	buf, oob := make([]byte, 1<<20), make([]byte, unix.CmsgSpace(4*253))
	for len(q) < 1<<16 {
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_PEEK|unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EAGAIN) || err == nil && n == 0 && oobn == 0 {
			return q, passed, nil
		}
		if err != nil {
			return fail(err)
		}
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
			return fail(fmt.Errorf("a message longer than %d bytes, or carrying more than 253 files", len(buf)))
		}
		var files []image.PassedFile
		if oobn > 0 {
			if files, err = passedFiles(oob[:oobn]); err != nil {
				return fail(fmt.Errorf("message %d: %w", len(q)+1, err))
			}
		}
		if len(files) > 0 {
			for len(passed) < len(q) {
				passed = append(passed, nil)
			}
			passed = append(passed, files)
		}
		q = append(q, append([]byte(nil), buf[:n]...))
	}
	return fail(fmt.Errorf("more than %d messages", 1<<16))
}

// passedFiles describes the files of the control messages oob, which
// peeking passed to us and which it closes: regular files and directories
// by path, status flags and offset. Anything else in flight, and
// credentials, cannot be made again and are refused by name.
func passedFiles(oob []byte) ([]image.PassedFile, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_RIGHTS {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return nil, err
			}
			fds = append(fds, got...)
		}
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			return nil, fmt.Errorf("it carries credentials or another control message (level %d type %d): not supported yet", m.Header.Level, m.Header.Type)
		}
	}
	var out []image.PassedFile
	for _, fd := range fds {
		link, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, fmt.Errorf("a passed file (%s): %w", link, os.NewSyscallError("fstat", err))
		}
		if m := st.Mode & unix.S_IFMT; m != unix.S_IFREG && m != unix.S_IFDIR {
			return nil, fmt.Errorf("it passes %s, which a restart cannot make again (stasis restores regular files and directories in flight): not supported yet", link)
		}
		var cur unix.Stat_t
		if !strings.HasPrefix(link, "/") || unix.Stat(link, &cur) != nil || cur.Dev != st.Dev || cur.Ino != st.Ino {
			return nil, fmt.Errorf("it passes %s, which its path no longer names: not supported", link)
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			return nil, fmt.Errorf("a passed file (%s): %w", link, err)
		}
		pos, err := unix.Seek(fd, 0, 1)
		if err != nil {
			return nil, fmt.Errorf("a passed file (%s): %w", link, err)
		}
		out = append(out, image.PassedFile{Path: link, Flags: flags &^ unix.O_CLOEXEC, Pos: pos})
	}
	return out, nil
}
