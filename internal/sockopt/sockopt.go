// Package sockopt is the socket options stasis saves with a listening or
// bound socket and sets again on the one it makes at restart: which they
// are, how to read them, and how their values are laid out for
// setsockopt. An option not in the list is neither saved nor set, so an
// edited image cannot set one (a socket filter, a mark) that no program
// set through stasis.
package sockopt

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// Kind is how an option's value is laid out.
type Kind int

const (
	Int     Kind = iota // an int
	Buffer              // an int that getsockopt shows doubled
	Linger              // struct linger: onoff, linger
	Timeval             // struct timeval: seconds, microseconds
)

// Opt is one option.
type Opt struct {
	Level, Name int
	Kind        Kind
}

// Saved are the options kept, in the order they are set: all before
// bind, since some (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY,
// IP_FREEBIND) only count there.
var Saved = []Opt{
	{unix.SOL_SOCKET, unix.SO_REUSEADDR, Int},
	{unix.SOL_SOCKET, unix.SO_REUSEPORT, Int},
	{unix.SOL_SOCKET, unix.SO_KEEPALIVE, Int},
	{unix.SOL_SOCKET, unix.SO_BROADCAST, Int},
	{unix.SOL_SOCKET, unix.SO_OOBINLINE, Int},
	{unix.SOL_SOCKET, unix.SO_PASSCRED, Int},
	{unix.SOL_SOCKET, unix.SO_PRIORITY, Int},
	{unix.SOL_SOCKET, unix.SO_RCVLOWAT, Int},
	{unix.SOL_SOCKET, unix.SO_RCVBUF, Buffer},
	{unix.SOL_SOCKET, unix.SO_SNDBUF, Buffer},
	{unix.SOL_SOCKET, unix.SO_LINGER, Linger},
	{unix.SOL_SOCKET, unix.SO_RCVTIMEO, Timeval},
	{unix.SOL_SOCKET, unix.SO_SNDTIMEO, Timeval},
	{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, Int},
	{unix.IPPROTO_IP, unix.IP_FREEBIND, Int},
	{unix.IPPROTO_IP, unix.IP_TOS, Int},
	{unix.IPPROTO_IP, unix.IP_TTL, Int},
	{unix.IPPROTO_TCP, unix.TCP_NODELAY, Int},
	{unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, Int},
	{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, Int},
	{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, Int},
	{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, Int},
	{unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, Int},
	{unix.IPPROTO_TCP, unix.TCP_FASTOPEN, Int},
}

// Lookup finds an option of the list.
func Lookup(level, name int) (Opt, bool) {
	for _, o := range Saved {
		if o.Level == level && o.Name == name {
			return o, true
		}
	}
	return Opt{}, false
}

// Get reads o from the socket fd; an error means the socket has no such
// option (a TCP option of a unix socket).
func Get(fd int, o Opt) ([]int64, error) {
	switch o.Kind {
	case Linger:
		l, err := unix.GetsockoptLinger(fd, o.Level, o.Name)
		if err != nil {
			return nil, err
		}
		return []int64{int64(l.Onoff), int64(l.Linger)}, nil
	case Timeval:
		tv, err := unix.GetsockoptTimeval(fd, o.Level, o.Name)
		if err != nil {
			return nil, err
		}
		return []int64{tv.Sec, tv.Usec}, nil
	}
	v, err := unix.GetsockoptInt(fd, o.Level, o.Name)
	return []int64{int64(v)}, err
}

// Encode lays v out as setsockopt takes it for o.
func Encode(o Opt, v []int64) ([]byte, error) {
	want := map[Kind]int{Int: 1, Buffer: 1, Linger: 2, Timeval: 2}[o.Kind]
	if len(v) != want {
		return nil, fmt.Errorf("socket option %d/%d: %d values, want %d", o.Level, o.Name, len(v), want)
	}
	le := binary.LittleEndian
	switch o.Kind {
	case Linger:
		b := make([]byte, 8)
		le.PutUint32(b, uint32(int32(v[0])))
		le.PutUint32(b[4:], uint32(int32(v[1])))
		return b, nil
	case Timeval:
		b := make([]byte, 16)
		le.PutUint64(b, uint64(v[0]))
		le.PutUint64(b[8:], uint64(v[1]))
		return b, nil
	case Buffer:
		v = []int64{v[0] / 2} // setsockopt doubles what it is given
	}
	b := make([]byte, 4)
	le.PutUint32(b, uint32(int32(v[0])))
	return b, nil
}
