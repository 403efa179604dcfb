package restart

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/proc"
	"stasis/internal/ptrace"
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
		if err := b.rootGroups(); err != nil {
			return err
		}
		return m.root(p, b.pid)
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

// zombie remakes a child that had exited unreaped: forked from its
// restored parent, it exits at once with its recorded status, and waits
// for the parent to reap it.
//
// Precondition: called on the owner thread.
func zombie(parent *builder, p *image.Process) error {
	if parent == nil {
		return fmt.Errorf("image: zombie %d without its parent %d: image damaged", p.Pid, p.PPid)
	}
	ws := unix.WaitStatus(p.ExitCode)
	if !ws.Exited() && !ws.Signaled() {
		return fmt.Errorf("image: zombie %d with wait status %#x: image damaged", p.Pid, p.ExitCode)
	}
	if err := waitPidFree(p.Pid); err != nil {
		return err
	}
	pid, err := parent.fork(p)
	if err != nil {
		return err
	}
	t, err := newRthread(pid, parent.gate, nil)
	if err != nil {
		return err
	}
	if ws.Exited() {
		_, err = t.r.Syscall(unix.SYS_EXIT_GROUP, uint64(ws.ExitStatus()))
	} else {
		// Killed: the signal's default action, delivered as we let go.
		var act [4]uint64 // struct sigaction with SIG_DFL
		if err := parent.mem.WriteAt(make([]byte, len(act)*8), parent.scratch); err != nil {
			return err
		}
		if _, err := t.r.Syscall(unix.SYS_RT_SIGACTION, uint64(ws.Signal()), parent.scratch, 0, 8); err != nil {
			return fmt.Errorf("pid %d: rt_sigaction: %w", pid, err)
		}
		if err := kernel.SetSigmask(pid, 0); err != nil {
			return err
		}
		if err := ptrace.Detach(pid, ws.Signal()); err != nil {
			return err
		}
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if st, err := proc.ReadStat(pid); err == nil && st.State == 'Z' {
				return nil
			}
		}
		return fmt.Errorf("pid %d: did not die of %v", pid, ws.Signal())
	}
	var gone *ptrace.ErrGone
	if errors.As(err, &gone) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("pid %d: did not end as a zombie", pid)
	}
	return fmt.Errorf("pid %d: end as a zombie: %w", pid, err)
}

// rootGroups puts a process whose parent the image lacks back into its
// own session and process group, as far as the options ask: a session or
// group it led is made again; a group it did not lead is joined, which
// works only if that group exists in its session.
//
// Precondition: called on the owner thread.
func (b *builder) rootGroups() error {
	p, opt := b.p, b.opt
	if opt.RestoreSid && p.Sid == p.Pid {
		if _, err := b.call(unix.SYS_SETSID); err != nil {
			return fmt.Errorf("pid %d: --restore-sid: setsid: %w", b.pid, err)
		}
		return nil
	}
	if !opt.RestorePgid {
		return nil
	}
	cur, err := unix.Getpgid(b.pid)
	if err != nil || cur == p.Pgid {
		return err
	}
	target := uint64(p.Pgid)
	if p.Pgid == p.Pid {
		target = 0
	}
	if _, err := b.call(unix.SYS_SETPGID, 0, target); err != nil {
		return fmt.Errorf("pid %d: --restore-pgid: join process group %d: %w (it does not exist in this session)", b.pid, p.Pgid, err)
	}
	return nil
}
