package restart

import (
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// fork creates the child p of the process b is rebuilding, with p's pid,
// by a clone3 in b's main thread. The child starts as a copy of b (its
// restorer gate included) and is rebuilt by a builder of its own.
//
// Precondition: called on the owner thread.
func (b *builder) fork(p *image.Process) (int, error) {
	sig := p.ExitSignal
	if sig == 0 {
		sig = int(unix.SIGCHLD)
	}
	pid, err := clone3(b.threads[0].r, b.mem, b.scratch, 0, uint64(sig), p.Pid)
	if err != nil {
		return 0, fmt.Errorf("pid %d: create its child %d: %w", b.pid, p.Pid, err)
	}
	return pid, nil
}

// ids maps the image's process groups and sessions to those of the
// restored processes: the groups and sessions of the processes whose
// parent the image lacks are cr_restart's, as in BLCR; a leader of a group
// or session below them leads a new one with its own id.
type ids struct {
	pgid, sid map[int]int
}

// root records the group and session a process created as our child was
// born into.
func (m *ids) root(p *image.Process, pid int) error {
	pgid, err := unix.Getpgid(pid)
	if err != nil {
		return fmt.Errorf("pid %d: getpgid: %w", pid, err)
	}
	sid, err := unix.Getsid(pid)
	if err != nil {
		return fmt.Errorf("pid %d: getsid: %w", pid, err)
	}
	if _, ok := m.pgid[p.Pgid]; !ok {
		m.pgid[p.Pgid] = pgid
	}
	if _, ok := m.sid[p.Sid]; !ok {
		m.sid[p.Sid] = sid
	}
	return nil
}

// groups puts a forked child into its group and session.
//
// Precondition: called on the owner thread.
func (b *builder) groups() error {
	p, m := b.p, b.ids
	if !b.forked {
		return nil
	}
	if p.Sid == p.Pid {
		if _, err := b.call(unix.SYS_SETSID); err != nil {
			return fmt.Errorf("pid %d: setsid: %w", b.pid, err)
		}
		m.sid[p.Sid], m.pgid[p.Pgid] = p.Pid, p.Pid
		return nil
	}
	want, ok := m.pgid[p.Pgid]
	if !ok && p.Pgid == p.Pid {
		want, ok = p.Pid, true
		m.pgid[p.Pgid] = p.Pid
	}
	cur, err := unix.Getpgid(b.pid)
	if err != nil {
		return fmt.Errorf("pid %d: getpgid: %w", b.pid, err)
	}
	if !ok || want == cur {
		return nil // where it was born: its parent's group
	}
	if _, err := b.call(unix.SYS_SETPGID, 0, uint64(want)); err != nil {
		return fmt.Errorf("pid %d: join process group %d: %w", b.pid, want, err)
	}
	return nil
}
