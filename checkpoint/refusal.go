package checkpoint

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
)

// inheritedHint ends the refusal of a pipe or socket that leads outside
// the checkpoint: the way out when nobody meant the job to have it.
const inheritedHint = "; if the job inherited it from whatever started it, start the job with cr_run, which passes on only standard input, output and error and what --keep-fd names"

// cutHint ends the refusal of a pipe or unix socket, link, that leads
// outside the checkpoint.
func cutHint(link string) string {
	return ", or checkpoint with --cut-pipes, which saves it with its other end closed (a restart with --inherit-fd fd[N]:" + link + " gives it cr_restart's fd N instead)"
}

// socketCase says what a socket that cannot be saved is: its family and
// type, whether it listens or is connected, and its addresses, as in
// "tcp 127.0.0.1:59997 listening", and which issue covers it. It looks
// through a duplicate of the fd (pidfd_getfd); what it cannot learn it
// leaves out.
func socketCase(pid, fd int, link string) (what, covered string) {
	dup, err := kernel.TakeFd(pid, fd, link)
	if err != nil {
		return "socket whose other end is outside the checkpoint, or listening, or bound to a name", ""
	}
	defer dup.Close()
	s := int(dup.Fd())
	domain, _ := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_DOMAIN)
	typ, _ := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_TYPE)
	proto, _ := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	listening, _ := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	local, _ := unix.Getsockname(s)
	peer, _ := unix.Getpeername(s)
	var kind string
	switch domain {
	case unix.AF_INET, unix.AF_INET6:
		kind = map[int]string{unix.SOCK_STREAM: "tcp", unix.SOCK_DGRAM: "udp", unix.SOCK_RAW: "raw ip"}[typ]
		if kind == "" {
			kind = "ip"
		}
		if domain == unix.AF_INET6 {
			kind += "6"
		}
	case unix.AF_UNIX:
		kind = "unix " + map[int]string{unix.SOCK_STREAM: "stream", unix.SOCK_DGRAM: "datagram", unix.SOCK_SEQPACKET: "seqpacket"}[typ]
	case unix.AF_NETLINK:
		return fmt.Sprintf("netlink socket of protocol %d", proto), " (stasis saves NETLINK_ROUTE sockets connected to nothing, not yet other kinds)"
	default:
		return fmt.Sprintf("socket of address family %d", domain), ""
	}
	var b strings.Builder
	b.WriteString(kind)
	if a := sockAddr(local); a != "" {
		b.WriteString(" " + a)
	}
	switch {
	case listening != 0:
		b.WriteString(" listening")
	case peer != nil && sockAddr(peer) != "":
		b.WriteString(" connected to " + sockAddr(peer))
	case peer != nil:
		b.WriteString(" connected to a peer outside the checkpoint")
	case local != nil && sockAddr(local) != "":
		b.WriteString(", bound")
	default:
		b.WriteString(", unconnected")
	}
	if domain == unix.AF_UNIX {
		if typ == unix.SOCK_DGRAM && peer != nil && sockAddr(peer) != "" {
			return b.String(), " (stasis saves listening and unconnected unix sockets, pairs inside the image, and datagram sockets connected to one bound to an absolute path or an abstract name, inside the image or outside it, not yet to a relative path)"
		}
		return b.String(), " (stasis saves listening and unconnected unix sockets, pairs inside the image, and datagram sockets connected to a path outside it; a stream connected outside it only cut from its peer)"
	}
	if kind == "tcp" || kind == "tcp6" {
		if peer != nil && listening == 0 {
			return b.String(), " (its peer is outside the checkpoint); checkpoint with --tcp-established (as root) to have it go on after the restart, or with --tcp-close to restore it as reset by its peer (the program sees ECONNRESET)"
		}
	}
	return b.String(), " (stasis saves listening and unconnected TCP and UDP sockets, and TCP connections: as root inside the image, or to a peer outside with --tcp-established or --tcp-close)"
}

// sockAddr prints an address: ip:port, a path, or @name for an abstract
// unix name; "" for none.
func sockAddr(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return ipPort(netip.AddrFrom4(a.Addr), a.Port)
	case *unix.SockaddrInet6:
		return ipPort(netip.AddrFrom16(a.Addr), a.Port)
	case *unix.SockaddrUnix:
		if a.Name == "@" { // how x/sys/unix shows an unbound socket
			return ""
		}
		if strings.HasPrefix(a.Name, "@") || strings.HasPrefix(a.Name, "\x00") {
			return "@" + strings.TrimLeft(a.Name, "@\x00")
		}
		return a.Name
	}
	return ""
}

// ipPort prints ip:port, or "" for an unbound socket (any address, port 0).
func ipPort(ip netip.Addr, port int) string {
	if ip.IsUnspecified() && port == 0 {
		return ""
	}
	return netip.AddrPortFrom(ip, uint16(port)).String()
}
