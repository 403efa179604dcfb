package restart

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// A pty made again: its master, and a slave opened from it, kept until
// the restore ends for the session whose controlling terminal it is.
type madePty struct {
	master, slave *os.File
}

func (m *madePty) close() {
	m.master.Close()
	m.slave.Close()
}

// ptyEnd installs the master or a slave of a pty of the image; the first
// fd of either end makes it (makePty). A slave is a new open of it
// (TIOCGPTPEER), its own open file description, as an open by path was.
//
// Precondition: called on the owner thread.
func (b *builder) ptyEnd(f *image.Fd) error {
	pt := f.Pty
	if pt == nil {
		return fmt.Errorf("pty without its description: image damaged")
	}
	m, err := b.shared.pty(pt)
	if err != nil {
		return err
	}
	if pt.Master {
		return b.installEnd(m.master, f, unix.O_NONBLOCK)
	}
	fd, err := ptyPeer(int(m.master.Fd()), f.Flags&unix.O_ACCMODE)
	if err != nil {
		return fmt.Errorf("open its slave (TIOCGPTPEER): %w", err)
	}
	slave := os.NewFile(uintptr(fd), "pty slave")
	defer slave.Close()
	return b.installEnd(slave, f, unix.O_NONBLOCK|unix.O_APPEND)
}

// pty is the pty of the image pt describes, made on first use.
func (s *shared) pty(pt *image.Pty) (*madePty, error) {
	if m := s.ptys[pt.Rdev]; m != nil {
		return m, nil
	}
	m, err := makePty(pt)
	if err != nil {
		return nil, fmt.Errorf("/dev/pts/%d: %w", pt.Index, err)
	}
	s.ptys[pt.Rdev] = m
	return m, nil
}

// makePty opens /dev/ptmx, again and again while the new pty's number is
// below the saved one, so that it gets its number back if free; unlocks
// it and gives its slave the saved termios, its master the window size,
// packet mode and lock, and refills what waited to be read from the
// master, written through the slave with output processing off.
func makePty(pt *image.Pty) (*madePty, error) {
	var extra []int
	defer func() {
		for _, fd := range extra {
			unix.Close(fd)
		}
	}()
	mfd := -1
	for tries := 0; ; tries++ {
		fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
		}
		n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("TIOCGPTN: %w", err)
		}
		if n >= pt.Index || tries >= 256 {
			mfd = fd
			break
		}
		extra = append(extra, fd)
	}
	m := &madePty{master: os.NewFile(uintptr(mfd), "pty master")}
	ok := false
	defer func() {
		if !ok {
			m.master.Close()
		}
	}()
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("unlock (TIOCSPTLCK): %w", err)
	}
	sfd, err := ptyPeer(mfd, unix.O_RDWR)
	if err != nil {
		return nil, fmt.Errorf("open its slave (TIOCGPTPEER): %w", err)
	}
	m.slave = os.NewFile(uintptr(sfd), "pty slave")
	defer func() {
		if !ok {
			m.slave.Close()
		}
	}()
	pt0 := pt.Termios
	t := &unix.Termios{Iflag: pt0.Iflag, Oflag: pt0.Oflag, Cflag: pt0.Cflag, Lflag: pt0.Lflag, Line: pt0.Line, Cc: pt0.Cc, Ispeed: pt0.Ispeed, Ospeed: pt0.Ospeed}
	if len(pt.Out) > 0 {
		raw := *t
		raw.Oflag &^= unix.OPOST
		if err := unix.IoctlSetTermios(sfd, unix.TCSETS, &raw); err != nil {
			return nil, fmt.Errorf("TCSETS: %w", err)
		}
		if _, err := unix.Write(sfd, pt.Out); err != nil {
			return nil, fmt.Errorf("refill what waited to be read: %w", err)
		}
	}
	if err := unix.IoctlSetTermios(sfd, unix.TCSETS, t); err != nil {
		return nil, fmt.Errorf("TCSETS: %w", err)
	}
	if err := unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: pt.Rows, Col: pt.Cols}); err != nil {
		return nil, fmt.Errorf("TIOCSWINSZ: %w", err)
	}
	if pt.Packet {
		if err := unix.IoctlSetPointerInt(mfd, unix.TIOCPKT, 1); err != nil {
			return nil, fmt.Errorf("TIOCPKT: %w", err)
		}
	}
	if pt.Locked {
		if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 1); err != nil {
			return nil, fmt.Errorf("lock (TIOCSPTLCK): %w", err)
		}
	}
	ok = true
	return m, nil
}

// ptyPeer opens the slave of the master mfd with the access mode acc.
func ptyPeer(mfd, acc int) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, uintptr(acc|unix.O_NOCTTY|unix.O_CLOEXEC))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// controllingTty gives a session leader whose controlling terminal was a
// pty of the image that pty again (TIOCSCTTY on a slave, which the
// process then closes); the processes forked from it after inherit it.
// One that is not a session leader here (a top process restarted in
// cr_restart's session) keeps cr_restart's terminal.
//
// Precondition: called on the owner thread.
func (b *builder) controllingTty() error {
	m := b.shared.ptys[uint64(b.p.TtyNr)]
	if b.p.TtyNr == 0 || m == nil || b.p.Sid != b.p.Pid {
		return nil
	}
	if sid, err := unix.Getsid(b.pid); err != nil || sid != b.pid {
		return nil
	}
	fd, err := b.receiveFd(m.slave)
	if err != nil {
		return err
	}
	defer b.call(unix.SYS_CLOSE, fd)
	if _, err := b.call(unix.SYS_IOCTL, fd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("pid %d: its controlling terminal (TIOCSCTTY): %w", b.pid, err)
	}
	b.ctty = true
	return nil
}

// foreground gives the terminal controllingTty gave back its foreground
// process group, once every process is made.
//
// Precondition: called on the owner thread.
func (b *builder) foreground() error {
	pgid, ok := b.ids.pgid[b.p.Tpgid]
	if !b.ctty || b.p.Tpgid <= 0 || !ok {
		return nil
	}
	fd, err := b.receiveFd(b.shared.ptys[uint64(b.p.TtyNr)].slave)
	if err != nil {
		return err
	}
	defer b.call(unix.SYS_CLOSE, fd)
	v := make([]byte, 4)
	le.PutUint32(v, uint32(pgid))
	if err := b.mem.WriteAt(v, b.scratch); err != nil {
		return err
	}
	if _, err := b.call(unix.SYS_IOCTL, fd, unix.TIOCSPGRP, b.scratch); err != nil {
		return fmt.Errorf("pid %d: its terminal's foreground group %d (TIOCSPGRP): %w", b.pid, pgid, err)
	}
	return nil
}
