package checkpoint

import (
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/proc"
)

// The state of a process that lives outside its memory and fds.

const prGetTidAddress = 40

// threadState reads one thread's registers and per-thread kernel state.
//
// Precondition: called on the owner thread.
func (a *asker) threadState(t *task) (image.Thread, error) {
	th := image.Thread{Tid: t.tid, SigMask: t.sigmask}
	fail := func(what string, err error) (image.Thread, error) {
		return th, fmt.Errorf("pid %d tid %d: %s: %w", a.pid, t.tid, what, err)
	}
	th.Regs = kernel.RegsBytes(&t.regs)
	xs := make([]byte, 64<<10)
	n, err := kernel.GetRegSet(t.tid, unix.NT_X86_XSTATE, xs)
	if err != nil {
		return fail("xstate", err)
	}
	th.Xstate = xs[:n]
	pend, err := kernel.PeekSiginfo(t.tid, false)
	if err != nil {
		return fail("pending signals", err)
	}
	th.Pending = sigInfos(pend)
	rs, err := kernel.GetRseq(t.tid)
	if err != nil {
		return fail("rseq", err)
	}
	th.Rseq = image.Rseq{Addr: rs.Addr, Len: rs.Len, Sig: rs.Sig}
	if th.RobustList, th.RobustLen, err = kernel.GetRobustList(t.tid); err != nil {
		return fail("robust list", err)
	}
	if th.Comm, err = proc.ReadComm(a.pid, t.tid); err != nil {
		return fail("comm", err)
	}
	ss, err := a.callRead(t, 24, unix.SYS_SIGALTSTACK, 0, a.scratch)
	if err != nil {
		return fail("sigaltstack", err)
	}
	th.AltStack = image.AltStack{SP: le.Uint64(ss), Flags: int32(le.Uint32(ss[8:])) &^ kernel.SS_ONSTACK, Size: le.Uint64(ss[16:])}
	ct, err := a.callRead(t, 8, unix.SYS_PRCTL, prGetTidAddress, a.scratch)
	if err != nil {
		return fail("clear_child_tid", err)
	}
	th.ClearChildTid = le.Uint64(ct)
	return th, nil
}

func sigInfos(raw [][kernel.SiginfoSize]byte) []image.SigInfo {
	var out []image.SigInfo
	for _, r := range raw {
		out = append(out, image.SigInfo{Sig: int(int32(le.Uint32(r[:]))), Info: append([]byte(nil), r[:]...)})
	}
	return out
}

// signals reads every signal handler, the process-wide pending queue,
// itimers and POSIX timers. Only the handlers of signals that are caught
// or ignored (and SIGCHLD's, whose SA_NOCLDSTOP and SA_NOCLDWAIT count
// even at its default) are read, a remote system call each; any other
// is at its default action, which no flag or mask changes: saved as
// SIG_DFL with none (only sigaction(2) asking for it could tell).
//
// Precondition: called on the owner thread.
func (a *asker) signals(p *image.Process) error {
	t := a.leader
	status, err := proc.ReadStatus(a.pid)
	if err != nil {
		return err
	}
	set := status.SigCgt | status.SigIgn | 1<<(unix.SIGCHLD-1)
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		if set&(1<<(sig-1)) == 0 {
			p.Sigactions = append(p.Sigactions, image.Sigaction{Sig: sig})
			continue
		}
		b, err := a.callRead(t, 32, unix.SYS_RT_SIGACTION, uint64(sig), 0, a.scratch, 8)
		if err != nil {
			return fmt.Errorf("pid %d: signal %d handler: %w", a.pid, sig, err)
		}
		p.Sigactions = append(p.Sigactions, image.Sigaction{Sig: sig,
			Handler: le.Uint64(b), Flags: le.Uint64(b[8:]), Restorer: le.Uint64(b[16:]), Mask: le.Uint64(b[24:])})
	}
	pend, err := kernel.PeekSiginfo(t.tid, true)
	if err != nil {
		return fmt.Errorf("pid %d: shared pending signals: %w", a.pid, err)
	}
	p.SharedPending = sigInfos(pend)
	for which := range p.Itimers {
		b, err := a.callRead(t, 32, unix.SYS_GETITIMER, uint64(which), a.scratch)
		if err != nil {
			return fmt.Errorf("pid %d: itimer %d: %w", a.pid, which, err)
		}
		it := image.Itimer{
			Interval: image.Timeval{Sec: int64(le.Uint64(b)), Usec: int64(le.Uint64(b[8:]))},
			Value:    image.Timeval{Sec: int64(le.Uint64(b[16:])), Usec: int64(le.Uint64(b[24:]))},
		}
		if which == unix.ITIMER_REAL && it.Value == (image.Timeval{}) && it.Interval != (image.Timeval{}) {
			// It expired while the process was frozen: the kernel
			// re-arms it only once the pending SIGALRM is taken, and
			// shows 0 left meanwhile, which would disarm it on restart.
			// The next expiry is an interval away.
			it.Value = it.Interval
		}
		p.Itimers[which] = it
	}
	timers, err := proc.ReadTimers(a.pid)
	if err != nil {
		return err
	}
	for _, tm := range timers {
		pt := image.PosixTimer{ID: tm.ID, Clock: tm.Clock, Signal: tm.Signal, SigevValue: tm.SigevValue, NotifyTid: tm.NotifyPid}
		switch tm.Notify {
		case "signal":
			pt.Notify = kernel.SIGEV_SIGNAL
		case "thread":
			pt.Notify = kernel.SIGEV_SIGNAL | kernel.SIGEV_THREAD_ID
		case "none":
			pt.Notify = kernel.SIGEV_NONE
		default:
			return fmt.Errorf("pid %d: posix timer %d: notify %q: not supported", a.pid, tm.ID, tm.Notify)
		}
		b, err := a.callRead(t, 32, unix.SYS_TIMER_GETTIME, uint64(tm.ID), a.scratch)
		if err != nil {
			return fmt.Errorf("pid %d: posix timer %d: %w", a.pid, tm.ID, err)
		}
		pt.Interval = image.Timespec{Sec: int64(le.Uint64(b)), Nsec: int64(le.Uint64(b[8:]))}
		pt.Value = image.Timespec{Sec: int64(le.Uint64(b[16:])), Nsec: int64(le.Uint64(b[24:]))}
		ov, err := a.call(t, unix.SYS_TIMER_GETOVERRUN, uint64(tm.ID))
		if err != nil {
			return fmt.Errorf("pid %d: posix timer %d: %w", a.pid, tm.ID, err)
		}
		pt.Overrun = int(ov)
		p.PosixTimers = append(p.PosixTimers, pt)
	}
	return nil
}

// identity fills what /proc says about the process as a whole.
func identity(pid int, st *proc.Stat, status *proc.Status, filter *image.Seccomp, p *image.Process) error {
	var err error
	p.Pid, p.PPid, p.Pgid, p.Sid, p.Comm, p.ExitSignal = pid, st.PPid, st.Pgrp, st.Session, st.Comm, st.ExitSignal
	p.TtyNr, p.Tpgid = st.TtyNr, st.Tpgid
	p.Stopped = st.State == 'T' // job control (SIGSTOP), read before we stopped it
	if p.Exe, err = proc.Readlink(pid, "exe"); err != nil {
		return err
	}
	if p.Cwd, err = proc.Readlink(pid, "cwd"); err != nil {
		return err
	}
	if p.Root, err = proc.Readlink(pid, "root"); err != nil {
		return err
	}
	if p.Root != "/" {
		return fmt.Errorf("pid %d: root directory %q: chroot is not supported yet", pid, p.Root)
	}
	p.Umask = status.Umask
	if p.Personality, err = proc.ReadPersonality(pid); err != nil {
		return err
	}
	p.Creds = image.Creds{Uid: status.Uid, Gid: status.Gid, Groups: status.Groups,
		CapInh: status.CapInh, CapPrm: status.CapPrm, CapEff: status.CapEff, CapBnd: status.CapBnd, CapAmb: status.CapAmb}
	p.NoNewPrivs = status.NoNewPrivs != 0
	switch {
	case status.Seccomp == 0:
	case status.Seccomp == unix.SECCOMP_MODE_FILTER && status.SeccompFilters == 1 && filter != nil:
		p.Seccomp = filter
	case filter != nil:
		return fmt.Errorf("pid %d: %d seccomp filters besides the agent's: a filter of the program's own is not supported yet", pid, status.SeccompFilters-1)
	default:
		return fmt.Errorf("pid %d: seccomp filter installed (mode %d, %d filters): not supported yet", pid, status.Seccomp, status.SeccompFilters)
	}
	// From /proc: prlimit on another user's process needs
	// CAP_SYS_RESOURCE, which root in a container often lacks.
	limits, err := proc.ReadLimits(pid)
	if err != nil {
		return err
	}
	for res, l := range limits {
		p.Rlimits = append(p.Rlimits, image.Rlimit{Resource: res, Cur: l.Cur, Max: l.Max})
	}
	p.MM = image.MM{StartCode: st.StartCode, EndCode: st.EndCode, StartData: st.StartData, EndData: st.EndData,
		StartBrk: st.StartBrk, StartStack: st.StartStack, ArgStart: st.ArgStart, ArgEnd: st.ArgEnd,
		EnvStart: st.EnvStart, EnvEnd: st.EnvEnd}
	if p.MM.Auxv, err = proc.ReadAuxv(pid); err != nil {
		return err
	}
	return nil
}
