package restart

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/control"
	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/sockopt"
)

// Where in the scratch page a listener's socket address, option values
// and a stat buffer go.
const (
	scratchAddr = 0
	scratchOpt  = 256
	scratchStat = 512
)

// listener makes a server's socket again, in the process and so with its
// credentials and in its network namespace: socket, the saved options,
// bind to the saved address, listen with the saved backlog. A path-bound
// unix socket's stale file, left by the process that was checkpointed, is
// removed first (only a socket file that nobody listens on), and the new
// one is given the saved permissions.
//
// Precondition: called on the owner thread.
func (b *builder) listener(f *image.Fd) (uint64, error) {
	l := f.Listener
	if l == nil {
		return 0, fmt.Errorf("listening socket without its description: image damaged")
	}
	if strings.HasPrefix(l.Addr, control.LibcrPrefix) {
		// libcr's listener (a process under no agent): the copy listens on
		// a name of its own, so that it never clashes with the original,
		// which may still hold this one, or with another copy.
		var err error
		if l, err = renamed(l); err != nil {
			return 0, err
		}
	}
	sa, err := sockaddr(l)
	if err != nil {
		return 0, err
	}
	if err := checkQueue(l); err != nil {
		return 0, err
	}
	netlink := l.Family == unix.AF_NETLINK && l.Protocol == unix.NETLINK_ROUTE && (l.Type == unix.SOCK_RAW || l.Type == unix.SOCK_DGRAM)
	if !netlink && l.Type != unix.SOCK_STREAM && l.Type != unix.SOCK_DGRAM && l.Type != unix.SOCK_SEQPACKET || l.Backlog < 0 {
		return 0, fmt.Errorf("socket type %d, backlog %d: image damaged", l.Type, l.Backlog)
	}
	flags := uint64(unix.SOCK_CLOEXEC)
	if f.Flags&unix.O_NONBLOCK != 0 {
		flags |= unix.SOCK_NONBLOCK
	}
	fd, err := b.call(unix.SYS_SOCKET, uint64(l.Family), uint64(l.Type)|flags, uint64(l.Protocol))
	if err != nil {
		return 0, fmt.Errorf("socket: %w", err)
	}
	if err := b.setUp(fd, l, sa); err != nil {
		b.call(unix.SYS_CLOSE, fd)
		return 0, err
	}
	if l.Family == unix.AF_UNIX && strings.HasPrefix(l.Addr, "@") && l.Backlog > 0 && l.Type != unix.SOCK_DGRAM {
		// Connections it accepted, yet to be made, get its name from it
		// (namedPair): nothing else may bind an abstract name it holds.
		dup, err := kernel.TakeFd(b.pid, int(fd), "listener "+l.Addr)
		if err != nil {
			b.call(unix.SYS_CLOSE, fd)
			return 0, err
		}
		if b.shared.abstract == nil {
			b.shared.abstract = map[string]*os.File{}
		}
		if old := b.shared.abstract[l.Addr]; old != nil {
			old.Close()
		}
		b.shared.abstract[l.Addr] = dup
	}
	return fd, nil
}

func (b *builder) setUp(fd uint64, l *image.Listener, sa []byte) error {
	reuse := []int64{0}
	for _, o := range l.Opts {
		opt, ok := sockopt.Lookup(o.Level, o.Name)
		if !ok {
			return fmt.Errorf("socket option %d/%d: not one stasis saves: image damaged or altered", o.Level, o.Name)
		}
		if opt.Level == unix.SOL_SOCKET && opt.Name == unix.SO_REUSEADDR {
			reuse = o.Value
		}
		if err := b.setOpt(fd, opt, o.Value); err != nil {
			return err
		}
	}
	if sa == nil {
		return b.listen(fd, l)
	}
	// Connections of the checkpointed process may linger in TIME_WAIT on
	// the port: SO_REUSEADDR lets the bind through them (not through
	// another listener), and is put back as it was after.
	addrReuse, _ := sockopt.Lookup(unix.SOL_SOCKET, unix.SO_REUSEADDR)
	inet := l.Family == unix.AF_INET || l.Family == unix.AF_INET6
	if inet && reuse[0] == 0 {
		if err := b.setOpt(fd, addrReuse, []int64{1}); err != nil {
			return err
		}
	}
	err := b.bind(fd, sa)
	path := l.Family == unix.AF_UNIX && strings.HasPrefix(l.Addr, "/")
	switch {
	case errors.Is(err, unix.EADDRINUSE) && path:
		if err = b.removeStale(l); err == nil {
			err = b.bind(fd, sa)
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, unix.EADDRINUSE) && inet && l.Type == unix.SOCK_STREAM && reuse[0] == 0:
			err = fmt.Errorf("%w: something else holds it (the checkpointed server itself, after a --run checkpoint?), or connections it accepted wait out TIME_WAIT there, which a server without SO_REUSEADDR cannot bind through: try again in a minute", err)
		case errors.Is(err, unix.EADDRINUSE):
			err = fmt.Errorf("%w: something else holds it (the checkpointed server itself, after a --run checkpoint?)", err)
		}
		return fmt.Errorf("bind %s: %w", l.Addr, err)
	}
	if inet && reuse[0] == 0 {
		if err := b.setOpt(fd, addrReuse, reuse); err != nil {
			return err
		}
	}
	if path {
		if err := b.mem.WriteAt(append([]byte(l.Addr), 0), b.scratch+scratchAddr); err != nil {
			return err
		}
		if _, err := b.call(unix.SYS_FCHMODAT, atFdcwd, b.scratch+scratchAddr, uint64(l.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod %s: %w", l.Addr, err)
		}
	}
	return b.listen(fd, l)
}

func (b *builder) listen(fd uint64, l *image.Listener) error {
	if l.Backlog == 0 {
		return nil
	}
	if _, err := b.call(unix.SYS_LISTEN, fd, uint64(l.Backlog)); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return nil
}

func (b *builder) setOpt(fd uint64, o sockopt.Opt, v []int64) error {
	val, err := sockopt.Encode(o, v)
	if err != nil {
		return fmt.Errorf("%w: image damaged", err)
	}
	if err := b.mem.WriteAt(val, b.scratch+scratchOpt); err != nil {
		return err
	}
	if _, err := b.call(unix.SYS_SETSOCKOPT, fd, uint64(o.Level), uint64(o.Name), b.scratch+scratchOpt, uint64(len(val))); err != nil {
		return fmt.Errorf("setsockopt(%d, %d, %v): %w", o.Level, o.Name, v, err)
	}
	return nil
}

func (b *builder) bind(fd uint64, sa []byte) error {
	if err := b.mem.WriteAt(sa, b.scratch+scratchAddr); err != nil {
		return err
	}
	_, err := b.call(unix.SYS_BIND, fd, b.scratch+scratchAddr, uint64(len(sa)))
	return err
}

// removeStale removes the socket file at a unix listener's path if no
// socket listens there (a connection is refused): the one the
// checkpointed process left.
func (b *builder) removeStale(l *image.Listener) error {
	if err := b.mem.WriteAt(append([]byte(l.Addr), 0), b.scratch+scratchOpt); err != nil {
		return err
	}
	if _, err := b.call(unix.SYS_NEWFSTATAT, atFdcwd, b.scratch+scratchOpt, b.scratch+scratchStat, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	st := make([]byte, 4)
	if err := b.mem.ReadAt(st, b.scratch+scratchStat+24); err != nil { // st_mode
		return err
	}
	if binary.LittleEndian.Uint32(st)&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("%w: and it is not a socket", unix.EADDRINUSE)
	}
	probe, err := b.call(unix.SYS_SOCKET, unix.AF_UNIX, uint64(l.Type)|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	sa, _ := sockaddr(l)
	if err := b.mem.WriteAt(sa, b.scratch+scratchAddr); err != nil {
		return err
	}
	_, err = b.call(unix.SYS_CONNECT, probe, b.scratch+scratchAddr, uint64(len(sa)))
	b.call(unix.SYS_CLOSE, probe)
	if !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("%w: a socket there accepts connections", unix.EADDRINUSE)
	}
	if _, err := b.call(unix.SYS_UNLINKAT, atFdcwd, b.scratch+scratchOpt, 0); err != nil {
		return fmt.Errorf("removing the stale socket file: %w", err)
	}
	return nil
}

// sockaddr lays out a listener's address as bind takes it; nil if it is
// not bound.
func sockaddr(l *image.Listener) ([]byte, error) {
	le, be := binary.LittleEndian, binary.BigEndian
	bad := func() ([]byte, error) {
		return nil, fmt.Errorf("address %q of a socket of family %d: image damaged", l.Addr, l.Family)
	}
	if l.Addr == "" {
		if l.Family != unix.AF_INET && l.Family != unix.AF_INET6 && l.Family != unix.AF_UNIX && l.Family != unix.AF_NETLINK {
			return bad()
		}
		return nil, nil
	}
	switch l.Family {
	case unix.AF_NETLINK:
		var port, groups uint32
		if n, err := fmt.Sscanf(l.Addr, "%d:%d", &port, &groups); err != nil || n != 2 || fmt.Sprintf("%d:%d", port, groups) != l.Addr {
			return bad()
		}
		sa := make([]byte, 12)
		le.PutUint16(sa, unix.AF_NETLINK)
		le.PutUint32(sa[4:], port)
		le.PutUint32(sa[8:], groups)
		return sa, nil
	case unix.AF_INET, unix.AF_INET6:
		ap, err := netip.ParseAddrPort(l.Addr)
		if err != nil || ap.Addr().Zone() != "" || (l.Family == unix.AF_INET) != ap.Addr().Is4() {
			return bad()
		}
		if l.Family == unix.AF_INET {
			sa := make([]byte, 16)
			le.PutUint16(sa, unix.AF_INET)
			be.PutUint16(sa[2:], ap.Port())
			a := ap.Addr().As4()
			copy(sa[4:], a[:])
			return sa, nil
		}
		sa := make([]byte, 28)
		le.PutUint16(sa, unix.AF_INET6)
		be.PutUint16(sa[2:], ap.Port())
		a := ap.Addr().As16()
		copy(sa[8:], a[:])
		return sa, nil
	case unix.AF_UNIX:
		max := len(unix.RawSockaddrUnix{}.Path)
		name, abstract := strings.CutPrefix(l.Addr, "@")
		switch {
		case abstract && len(name) < max:
			return append([]byte{unix.AF_UNIX, 0, 0}, name...), nil
		case !abstract && strings.HasPrefix(name, "/") && len(name) < max && !strings.ContainsRune(name, 0):
			return append(append([]byte{unix.AF_UNIX, 0}, name...), 0), nil
		}
	}
	return bad()
}

// renamed is l under its name with the random part drawn again.
func renamed(l *image.Listener) (*image.Listener, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("libcr listener %s: %w", l.Addr, err)
	}
	c := *l
	c.Addr = l.Addr[:strings.LastIndex(l.Addr, "-")+1] + hex.EncodeToString(b)
	return &c, nil
}
