package checkpoint

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
)

// A master of a pseudo-terminal the set holds, by its slave's device.
type ptyKey struct{ dev, rdev uint64 }

// ptyPairs marks, through set, the fds that are the master of a
// pseudo-terminal (/dev/ptmx) held in the set, or one of its slaves, with
// the terminal's settings and what waited to be read from its master. A
// slave whose master is outside (the user's terminal) is left to
// describeFd: a standard stream is given the restart's own.
func ptyPairs(all []openFd, set func(openFd, image.Fd)) error {
	ptys := map[ptyKey]*image.Pty{}
	for _, o := range all {
		if o.link != "/dev/ptmx" && o.link != "/dev/pts/ptmx" {
			continue
		}
		k, pty, err := describePty(o)
		if err != nil {
			return err
		}
		if ptys[k] == nil {
			ptys[k] = pty
		}
		m := *ptys[k]
		m.Master = true
		set(o, image.Fd{Kind: image.FdPty, Pty: &m})
	}
	if len(ptys) == 0 {
		return nil
	}
	for _, o := range all {
		if !strings.HasPrefix(o.link, "/dev/pts/") || o.link == "/dev/pts/ptmx" {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", o.pid, o.fd), &st); err != nil {
			return fmt.Errorf("pid %d fd %d: %s: %w", o.pid, o.fd, o.link, err)
		}
		if pty := ptys[ptyKey{st.Dev, st.Rdev}]; pty != nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
			s := *pty
			s.Out = nil
			set(o, image.Fd{Kind: image.FdPty, Pty: &s})
		}
	}
	return nil
}

// describePty reads the terminal whose master o is, through a duplicate
// of o and the slave that TIOCGPTPEER opens from it: the slave's number,
// termios and window size, the master's packet mode and lock, and the
// bytes waiting to be read from the master, which it reads and writes
// back through the slave with output processing off for the moment, so
// that the processes find them as they were.
func describePty(o openFd) (ptyKey, *image.Pty, error) {
	fail := func(what string, err error) (ptyKey, *image.Pty, error) {
		return ptyKey{}, nil, fmt.Errorf("pid %d fd %d (%s): %s: %w", o.pid, o.fd, o.link, what, err)
	}
	m, err := kernel.TakeFd(o.pid, o.fd, o.link)
	if err != nil {
		return ptyKey{}, nil, err
	}
	defer m.Close()
	mfd := int(m.Fd())
	sfd, err := ptyPeer(mfd)
	if err != nil {
		return fail("TIOCGPTPEER", err)
	}
	slave := os.NewFile(uintptr(sfd), "pty slave")
	defer slave.Close()
	var st unix.Stat_t
	if err := unix.Fstat(sfd, &st); err != nil {
		return fail("fstat of its slave", err)
	}
	p := &image.Pty{Rdev: st.Rdev}
	if p.Index, err = unix.IoctlGetInt(mfd, unix.TIOCGPTN); err != nil {
		return fail("TIOCGPTN", err)
	}
	t, err := unix.IoctlGetTermios(sfd, unix.TCGETS)
	if err != nil {
		return fail("TCGETS", err)
	}
	p.Termios = image.Termios{Iflag: t.Iflag, Oflag: t.Oflag, Cflag: t.Cflag, Lflag: t.Lflag, Line: t.Line, Cc: t.Cc, Ispeed: t.Ispeed, Ospeed: t.Ospeed}
	ws, err := unix.IoctlGetWinsize(mfd, unix.TIOCGWINSZ)
	if err != nil {
		return fail("TIOCGWINSZ", err)
	}
	p.Rows, p.Cols = ws.Row, ws.Col
	pkt, err := unix.IoctlGetInt(mfd, unix.TIOCGPKT)
	if err != nil {
		return fail("TIOCGPKT", err)
	}
	lck, err := unix.IoctlGetInt(mfd, unix.TIOCGPTLCK)
	if err != nil {
		return fail("TIOCGPTLCK", err)
	}
	p.Packet, p.Locked = pkt != 0, lck != 0
	if n, err := unix.IoctlGetInt(sfd, unix.TIOCINQ); err != nil {
		return fail("TIOCINQ", err)
	} else if n > 0 {
		return fail("its input", fmt.Errorf("%d bytes typed into /dev/pts/%d wait to be read: not supported yet (checkpoint again once the program has read them)", n, p.Index))
	}
	if p.Out, err = takeOutput(mfd, sfd, p.Packet, t); err != nil {
		return fail("what waits to be read from it", err)
	}
	return ptyKey{st.Dev, st.Rdev}, p, nil
}

// ptyPeer opens the slave of the master mfd (TIOCGPTPEER).
func ptyPeer(mfd int) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// takeOutput reads what waits to be read from the master mfd and writes
// it back through the slave sfd with output processing (OPOST) off, then
// puts the slave's termios t back. In packet mode the status byte that
// leads each read is dropped.
func takeOutput(mfd, sfd int, packet bool, t *unix.Termios) ([]byte, error) {
	n, err := unix.IoctlGetInt(mfd, unix.TIOCINQ)
	if err != nil || n == 0 {
		return nil, err
	}
	var out []byte
	buf := make([]byte, n+1)
	for len(out) < n {
		fds := []unix.PollFd{{Fd: int32(mfd), Events: unix.POLLIN}}
		if k, err := unix.Poll(fds, 100); err != nil || k == 0 {
			break
		}
		k, err := unix.Read(mfd, buf)
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		b := buf[:k]
		if packet && k > 0 {
			b = b[1:]
		}
		out = append(out, b...)
	}
	raw := *t
	raw.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(sfd, unix.TCSETS, &raw); err != nil {
		return nil, fmt.Errorf("TCSETS: %w", err)
	}
	_, werr := unix.Write(sfd, out)
	if err := unix.IoctlSetTermios(sfd, unix.TCSETS, t); err != nil {
		return nil, fmt.Errorf("TCSETS: %w", err)
	}
	if werr != nil {
		return nil, fmt.Errorf("writing back %d bytes: %w", len(out), werr)
	}
	return out, nil
}
