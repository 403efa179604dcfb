package restart

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/sockopt"
)

// unixAddr is the address of a unix socket name as the image keeps it:
// "/path", or "@" and an abstract name.
func unixAddr(name string) *unix.SockaddrUnix {
	if strings.HasPrefix(name, "@") {
		return &unix.SockaddrUnix{Name: "\x00" + name[1:]}
	}
	return &unix.SockaddrUnix{Name: name}
}

// namedPair makes a connected pair of unix sockets of type typ whose ends
// have the names a and b (one of them may be ""): a, if named, is accepted
// from a listener bound to a for the moment, which is then closed; b,
// if named, is bound before it connects. A file already at a path (the
// restored server's socket, or the one its original left) is moved aside
// meanwhile and put back, so that the server keeps its name; a client
// outside that connects in that moment is reset. An abstract name cannot
// be lent so: if held names the restored server's listener on it, a is
// accepted from that one (fromListener).
func namedPair(typ int, a, b string, held map[string]*os.File) (ea, eb *os.File, err error) {
	if a == "" {
		eb, ea, err = namedPair(typ, b, a, held)
		return ea, eb, err
	}
	if l := held[a]; l != nil {
		return fromListener(typ, l, a, b)
	}
	if l := held[b]; b != "" && l != nil {
		eb, ea, err = fromListener(typ, l, b, a)
		return ea, eb, err
	}
	sock := func() (int, error) {
		fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		return fd, os.NewSyscallError("socket", err)
	}
	l, err := sock()
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(l)
	c, err := sock()
	if err != nil {
		return nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(c)
		}
	}()
	undoA, err := bindAside(l, a)
	if err != nil {
		return nil, nil, err
	}
	defer undoA()
	if err := unix.Listen(l, 1); err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", a, err)
	}
	if b != "" {
		undoB, err := bindAside(c, b)
		if err != nil {
			return nil, nil, err
		}
		defer undoB()
	}
	if err := unix.Connect(c, unixAddr(a)); err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", a, err)
	}
	acc, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("accept on %s: %w", a, err)
	}
	ok = true
	return os.NewFile(uintptr(acc), "socket"), os.NewFile(uintptr(c), "socket"), nil
}

// boundPair makes a socket pair of type typ whose ends have the abstract
// names a and b (either may be ""), bound once paired: a datagram pair's.
func boundPair(typ int, a, b string) (ea, eb *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	for i, name := range []string{a, b} {
		if name == "" {
			continue
		}
		if !strings.HasPrefix(name, "@") {
			err = fmt.Errorf("socket pair with an end bound to the path %s: image damaged", name)
		} else if err = unix.Bind(fds[i], unixAddr(name)); err != nil {
			err = fmt.Errorf("bind to %s: %w", name, err)
		}
		if err != nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
			return nil, nil, err
		}
	}
	return os.NewFile(uintptr(fds[0]), "socket"), os.NewFile(uintptr(fds[1]), "socket"), nil
}

// fromListener makes a connected pair of unix sockets of type typ whose
// first end is accepted from l, the restored listener on the abstract
// name a, and whose second is bound to b if named. What l accepts before
// ours (a client that found the restored server already) is closed: it
// sees a reset, as connections waiting at the checkpoint do.
func fromListener(typ int, l *os.File, a, b string) (ea, eb *os.File, err error) {
	c, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socket", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(c)
		}
	}()
	if b != "" {
		undo, err := bindAside(c, b)
		if err != nil {
			return nil, nil, err
		}
		defer undo()
	}
	if err := unix.Connect(c, unixAddr(a)); err != nil {
		return nil, nil, fmt.Errorf("connect to %s, the restored listener on it: %w", a, err)
	}
	if err := unix.SetNonblock(c, false); err != nil {
		return nil, nil, err
	}
	for range 1 << 16 {
		acc, _, err := unix.Accept4(int(l.Fd()), unix.SOCK_CLOEXEC)
		if err != nil {
			return nil, nil, fmt.Errorf("accept on %s, the restored listener on it: %w", a, err)
		}
		if cred, err := unix.GetsockoptUcred(acc, unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil && int(cred.Pid) == os.Getpid() {
			ok = true
			return os.NewFile(uintptr(acc), "socket"), os.NewFile(uintptr(c), "socket"), nil
		}
		unix.Close(acc)
	}
	return nil, nil, fmt.Errorf("accept on %s, the restored listener on it: our connection never came", a)
}

// bindAside binds fd to name, moving a file already at that path aside;
// undo removes what the bind made and puts that file back.
func bindAside(fd int, name string) (undo func(), err error) {
	if strings.HasPrefix(name, "@") {
		if err := unix.Bind(fd, unixAddr(name)); err != nil {
			if errors.Is(err, unix.EADDRINUSE) {
				return nil, fmt.Errorf("bind to %s: the abstract name is taken by a socket outside the image (the checkpointed server itself, still running after a --run checkpoint?): %w", name, err)
			}
			return nil, fmt.Errorf("bind to %s: %w", name, err)
		}
		return func() {}, nil
	}
	aside := ""
	if st, err := os.Lstat(name); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("bind to %s: %w: and it is not a socket", name, unix.EADDRINUSE)
		}
		aside = name + ".stasis-aside-" + strconv.Itoa(os.Getpid())
		if err := os.Rename(name, aside); err != nil {
			return nil, fmt.Errorf("moving %s aside to make a connection accepted from it: %w", name, err)
		}
	}
	undo = func() {
		os.Remove(name)
		if aside != "" {
			os.Rename(aside, name)
		}
	}
	if err := unix.Bind(fd, unixAddr(name)); err != nil {
		undo()
		return nil, fmt.Errorf("bind to %s: %w", name, err)
	}
	return undo, nil
}

// setOpts gives the socket fd, made here, the options the image saved of
// it.
func setOpts(fd int, opts []image.SockOpt) error {
	for _, o := range opts {
		opt, ok := sockopt.Lookup(o.Level, o.Name)
		if !ok {
			return fmt.Errorf("socket option %d/%d: not one stasis saves: image damaged or altered", o.Level, o.Name)
		}
		val, err := sockopt.Encode(opt, o.Value)
		if err != nil {
			return fmt.Errorf("%w: image damaged", err)
		}
		if err := unix.SetsockoptString(fd, o.Level, o.Name, string(val)); err != nil {
			return fmt.Errorf("setsockopt(%d, %d, %v): %w", o.Level, o.Name, o.Value, err)
		}
	}
	return nil
}
