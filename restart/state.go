package restart

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// processState restores the process-wide state that is not memory or fds.
//
// Precondition: called on the owner thread.
func (b *builder) processState() error {
	p := b.p
	fail := func(what string, err error) error { return fmt.Errorf("pid %d: %s: %w", b.pid, what, err) }
	if err := b.xcompPerm(); err != nil {
		return err
	}
	if len(p.Cwd) >= 4000 {
		return fail("working directory "+p.Cwd, fmt.Errorf("path too long"))
	}
	b.later("working directory "+p.Cwd+": chdir", unix.SYS_CHDIR, b.laterData(append([]byte(p.Cwd), 0)))
	b.later("umask", unix.SYS_UMASK, uint64(p.Umask))
	b.later("personality", unix.SYS_PERSONALITY, uint64(p.Personality))
	for _, r := range p.Rlimits {
		rl := unix.Rlimit{Cur: r.Cur, Max: r.Max}
		if err := unix.Prlimit(b.pid, r.Resource, &rl, nil); err != nil {
			var own unix.Rlimit
			if errors.Is(err, unix.EPERM) && unix.Getrlimit(r.Resource, &own) == nil && rl.Max > own.Max {
				return fmt.Errorf("pid %d: resource limit %d: the image asks for a hard limit of %d, above this cr_restart's %d, which only a privileged restorer may raise: not granted", b.pid, r.Resource, rl.Max, own.Max)
			}
			return fail(fmt.Sprintf("rlimit %d", r.Resource), err)
		}
	}
	for _, sa := range p.Sigactions {
		if sa.Sig < 1 || sa.Sig > 64 {
			return fmt.Errorf("pid %d: signal %d: image damaged", b.pid, sa.Sig)
		}
		act := make([]byte, 32)
		for i, v := range []uint64{sa.Handler, sa.Flags, sa.Restorer, sa.Mask} {
			le.PutUint64(act[8*i:], v)
		}
		b.later(fmt.Sprintf("signal %d handler", sa.Sig), unix.SYS_RT_SIGACTION, uint64(sa.Sig), b.laterData(act), 0, 8)
	}
	for which, it := range p.Itimers {
		// A periodic ITIMER_REAL that expired with its SIGALRM still
		// pending reads as value 0: the kernel re-arms it when the signal
		// is taken, from the interval, which setitimer stores even with a
		// zero value. Skip only timers with neither.
		if it.Value == (image.Timeval{}) && it.Interval == (image.Timeval{}) {
			continue
		}
		v := make([]byte, 32)
		for i, x := range []int64{it.Interval.Sec, it.Interval.Usec, it.Value.Sec, it.Value.Usec} {
			le.PutUint64(v[8*i:], uint64(x))
		}
		b.later(fmt.Sprintf("itimer %d", which), unix.SYS_SETITIMER, uint64(which), b.laterData(v), 0)
	}
	return nil // run by the next call, or the flush at the end of build
}

// posixTimers recreates timer_create timers with their original ids,
// once the threads they may signal exist.
func (b *builder) posixTimers() error {
	if len(b.p.PosixTimers) == 0 {
		return nil
	}
	if _, err := b.call(unix.SYS_PRCTL, unix.PR_TIMER_CREATE_RESTORE_IDS, unix.PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0); err != nil {
		return fmt.Errorf("pid %d: posix timers: prctl(PR_TIMER_CREATE_RESTORE_IDS): %w", b.pid, err)
	}
	for _, t := range b.p.PosixTimers {
		ev := make([]byte, 64) // struct sigevent
		le.PutUint64(ev, t.SigevValue)
		le.PutUint32(ev[8:], uint32(t.Signal))
		le.PutUint32(ev[12:], uint32(t.Notify))
		le.PutUint32(ev[16:], uint32(b.pids.of(t.NotifyTid)))
		id := make([]byte, 8)
		le.PutUint32(id, uint32(t.ID))
		spec := make([]byte, 32)
		for i, x := range []int64{t.Interval.Sec, t.Interval.Nsec, t.Value.Sec, t.Value.Nsec} {
			le.PutUint64(spec[8*i:], uint64(x))
		}
		if err := b.mem.WriteAt(append(append(ev, id...), spec...), b.scratch); err != nil {
			return err
		}
		if _, err := b.call(unix.SYS_TIMER_CREATE, uint64(t.Clock), b.scratch, b.scratch+64); err != nil {
			return fmt.Errorf("pid %d: posix timer %d: %w", b.pid, t.ID, err)
		}
		if t.Value != (image.Timespec{}) {
			if _, err := b.call(unix.SYS_TIMER_SETTIME, uint64(t.ID), 0, b.scratch+72, 0); err != nil {
				return fmt.Errorf("pid %d: posix timer %d: settime: %w", b.pid, t.ID, err)
			}
		}
	}
	_, err := b.call(unix.SYS_PRCTL, unix.PR_TIMER_CREATE_RESTORE_IDS, unix.PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0)
	return err
}

// queueSignals puts pending signals back: the process-wide queue through
// the leader, and each thread's own queue.
func (b *builder) queueSignal(tid int, s image.SigInfo, shared bool) error {
	if len(s.Info) != 128 || s.Sig < 1 || s.Sig > 64 {
		return fmt.Errorf("pid %d: pending signal %d: image damaged", b.pid, s.Sig)
	}
	t := b.threads[0]
	for _, u := range b.threads {
		if u.tid == tid {
			t = u
		}
	}
	if t.tid != tid {
		return fmt.Errorf("tid %d: not a thread of pid %d", tid, b.pid)
	}
	what := fmt.Sprintf("tid %d: queue signal %d", tid, s.Sig)
	info := b.laterData(s.Info)
	if shared {
		return b.laterIn(t, 0, what, unix.SYS_RT_SIGQUEUEINFO, uint64(b.pid), uint64(s.Sig), info)
	}
	return b.laterIn(t, 0, what, unix.SYS_RT_TGSIGQUEUEINFO, uint64(b.pid), uint64(tid), uint64(s.Sig), info)
}
