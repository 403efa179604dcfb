package checkpoint

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/sockdiag"
	"stasis/internal/sockopt"
)

// listener describes the socket at pid's fd n if it is a server's: an
// IPv4, IPv6 or unix socket that listens, or that is connected to
// nothing (bound or not). ok is false for any other socket, which is
// then refused or paired elsewhere; err says why a server's socket cannot
// be saved, such as datagrams waiting on it (a unix datagram socket's
// are saved by serverQueues, which describes it with queued set).
func listener(pid, n int, link string) (l *image.Listener, ok bool, err error) {
	return serverSocket(pid, n, link, false)
}

func serverSocket(pid, n int, link string, queued bool) (l *image.Listener, ok bool, err error) {
	ino, _ := linkIno(link, "socket")
	dup, err := kernel.TakeFd(pid, n, link)
	if err != nil {
		return nil, false, nil // socketCase then says what it can
	}
	defer dup.Close()
	fd := int(dup.Fd())
	domain, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	typ, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	proto, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	listening, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if domain == unix.AF_NETLINK {
		return netlinkSocket(pid, n, link, fd, typ, proto)
	}
	if domain != unix.AF_INET && domain != unix.AF_INET6 && domain != unix.AF_UNIX {
		return nil, false, nil
	}
	if typ != unix.SOCK_STREAM && typ != unix.SOCK_DGRAM && typ != unix.SOCK_SEQPACKET {
		return nil, false, nil
	}
	if _, err := unix.Getpeername(fd); !errors.Is(err, unix.ENOTCONN) {
		return nil, false, nil // connected (or gone wrong): not a server's
	}
	fail := func(why string, a ...any) (*image.Listener, bool, error) {
		what, _ := socketCase(pid, n, link)
		return nil, true, fmt.Errorf("pid %d fd %d: %s (%s): %s", pid, n, what, link, fmt.Sprintf(why, a...))
	}
	l = &image.Listener{Family: domain, Type: typ, Protocol: proto}
	if listening == 0 && !queued {
		if waiting, err := unix.IoctlGetInt(fd, unix.SIOCINQ); err == nil && waiting > 0 {
			return fail("%d bytes wait to be read on it, from senders a restart could not name again: not saved; checkpoint once they are read", waiting)
		}
		if typ == unix.SOCK_STREAM && domain != unix.AF_UNIX {
			// A TCP socket neither listening nor connected may be one whose
			// connection failed or ended: only a new one's state is saved.
			if st, err := tcpState(fd); err != nil || st != tcpClose {
				return nil, false, nil
			}
		}
	}
	local, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname: %v", err)
	}
	switch a := local.(type) {
	case *unix.SockaddrInet4:
		if a.Port != 0 || a.Addr != [4]byte{} {
			l.Addr = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
		}
	case *unix.SockaddrInet6:
		if a.Port != 0 || a.Addr != [16]byte{} {
			ip := netip.AddrFrom16(a.Addr)
			if a.ZoneId != 0 {
				return fail("bound to a link-local address of interface %d: not supported yet", a.ZoneId)
			}
			l.Addr = netip.AddrPortFrom(ip, uint16(a.Port)).String()
		}
	case *unix.SockaddrUnix:
		// sock_diag tells an unbound socket from an abstract name, which
		// x/sys/unix shows alike.
		if l.Addr, l.Mode, err = unixName(pid, ino); err != nil {
			return fail("%v", err)
		}
	}
	if listening != 0 {
		if l.Backlog, err = backlog(domain, ino); err != nil {
			return fail("%v", err)
		}
	}
	if l.Opts, err = changedOpts(fd, domain, typ, proto); err != nil {
		return fail("%v", err)
	}
	return l, true, nil
}

// netlinkSocket describes a NETLINK_ROUTE socket, the kind glibc and Go
// open to ask for interfaces and addresses: its port id and multicast
// groups, made again so (glibc checks that replies come to the port it
// bound). One connected to a peer, or with messages waiting, or of
// another protocol is refused.
func netlinkSocket(pid, n int, link string, fd, typ, proto int) (*image.Listener, bool, error) {
	if proto != unix.NETLINK_ROUTE || typ != unix.SOCK_RAW && typ != unix.SOCK_DGRAM {
		return nil, false, nil
	}
	fail := func(why string, a ...any) (*image.Listener, bool, error) {
		return nil, true, fmt.Errorf("pid %d fd %d: netlink route socket (%s): %s", pid, n, link, fmt.Sprintf(why, a...))
	}
	if peer, err := unix.Getpeername(fd); err != nil {
		return fail("getpeername: %v", err)
	} else if a, ok := peer.(*unix.SockaddrNetlink); !ok || a.Pid != 0 || a.Groups != 0 {
		return fail("connected to port %v: not supported yet", peer)
	}
	buf := make([]byte, 1)
	if k, _, err := unix.Recvfrom(fd, buf, unix.MSG_PEEK|unix.MSG_DONTWAIT|unix.MSG_TRUNC); err == nil || !errors.Is(err, unix.EAGAIN) {
		return fail("a message of %d bytes waits to be read on it (the answer to a request): checkpoint again once it is read", k)
	}
	local, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname: %v", err)
	}
	a, ok := local.(*unix.SockaddrNetlink)
	if !ok {
		return fail("getsockname gave %T", local)
	}
	// Groups joined by NETLINK_ADD_MEMBERSHIP above the 32 that bind
	// takes: not made again, so refused.
	groups := make([]byte, 64)
	k, err := kernel.GetsockoptBytes(fd, unix.SOL_NETLINK, unix.NETLINK_LIST_MEMBERSHIPS, groups)
	if err != nil {
		return fail("NETLINK_LIST_MEMBERSHIPS: %v", err)
	}
	for i := 4; i < min(k, len(groups)); i++ {
		if groups[i] != 0 {
			return fail("a member of multicast groups above 32 (NETLINK_ADD_MEMBERSHIP): not supported yet")
		}
	}
	l := &image.Listener{Family: unix.AF_NETLINK, Type: typ, Protocol: proto}
	if a.Pid != 0 || a.Groups != 0 {
		l.Addr = fmt.Sprintf("%d:%d", a.Pid, a.Groups)
	}
	if l.Opts, err = changedOpts(fd, unix.AF_NETLINK, typ, proto); err != nil {
		return fail("%v", err)
	}
	return l, true, nil
}

// listens says whether pid's fd n is a listening socket (which a
// standard stream may be, as inetd hands one over).
func listens(pid, n int, link string) bool {
	dup, err := kernel.TakeFd(pid, n, link)
	if err != nil {
		return false
	}
	defer dup.Close()
	v, err := unix.GetsockoptInt(int(dup.Fd()), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && v != 0
}

const tcpClose = 7 // TCP_CLOSE

// tcpState reads a TCP socket's state from TCP_INFO (its first byte).
func tcpState(fd int) (int, error) {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, err
	}
	return int(info.State), nil
}

// unixName is how a unix socket's name is kept: "@name" for an abstract
// one, an absolute path (and its file's permissions) for one bound to a
// path, which must still name the socket's own file.
func unixName(pid int, ino uint64) (string, uint32, error) {
	socks, err := sockdiag.UnixSockets()
	if err != nil {
		return "", 0, err
	}
	return sockName(pid, socks[ino])
}

// sockName is unixName for the socket s, as sock_diag shows it.
func sockName(pid int, s *sockdiag.Unix) (string, uint32, error) {
	if s == nil {
		return "", 0, fmt.Errorf("not in sock_diag (another network namespace?)")
	}
	name := s.Name
	switch {
	case name == "":
		return "", 0, nil
	case name[0] == 0:
		return "@" + name[1:], 0, nil
	case s.VfsIno == 0:
		return "", 0, fmt.Errorf("bound to %s, whose file sock_diag does not show", name)
	}
	path := name
	if !filepath.IsAbs(path) {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil {
			return "", 0, fmt.Errorf("bound to the relative path %s: its working directory: %w", name, err)
		}
		path = filepath.Join(cwd, path)
	}
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/root%s", pid, path), &st); err != nil || st.Ino != s.VfsIno || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return "", 0, fmt.Errorf("bound to %s, but that path no longer names its socket file (removed or replaced): a restart could not make it again where clients look", path)
	}
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return "", 0, fmt.Errorf("bound to %s, longer than a unix socket address may be (%d bytes)", path, len(unix.RawSockaddrUnix{}.Path)-1)
	}
	return path, st.Mode & 0o7777, nil
}

// backlog reads a listening socket's backlog from sock_diag.
func backlog(domain int, ino uint64) (int, error) {
	if domain == unix.AF_UNIX {
		socks, err := sockdiag.UnixSockets()
		if err != nil {
			return 0, err
		}
		if s := socks[ino]; s != nil && s.State == sockdiag.StateListen {
			return int(s.Wqueue), nil
		}
	} else {
		ls, err := sockdiag.TCPListeners(domain)
		if err != nil {
			return 0, err
		}
		if l := ls[ino]; l != nil {
			return int(l.Backlog), nil
		}
	}
	return 0, fmt.Errorf("its backlog is not in sock_diag (is it in another network namespace than cr_checkpoint?)")
}

// changedOpts reads the options of sockopt.Saved that differ from those
// of a new socket of the same kind.
func changedOpts(fd, domain, typ, proto int) ([]image.SockOpt, error) {
	fresh, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("a new socket to compare its options with: %w", err)
	}
	defer unix.Close(fresh)
	var out []image.SockOpt
	for _, o := range sockopt.Saved {
		v, err := sockopt.Get(fd, o)
		if err != nil {
			continue // not an option of this kind of socket
		}
		if def, err := sockopt.Get(fresh, o); err == nil && slices.Equal(v, def) {
			continue
		}
		out = append(out, image.SockOpt{Level: o.Level, Name: o.Name, Value: v})
	}
	return out, nil
}
