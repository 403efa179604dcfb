package restart

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/proc"
	"stasis/internal/ptrace"
	"stasis/internal/stub"
)

// rthread is one thread of the process being rebuilt.
type rthread struct {
	tid int
	r   *ptrace.Remote
	img *image.Thread
}

const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM

// newRthread prepares a freshly stopped task for remote syscalls: all
// signals blocked, and no stack pointer that could look like it is on an
// alternate signal stack.
//
// Precondition: called on the owner thread.
func newRthread(tid int, gate uint64, img *image.Thread) (*rthread, error) {
	regs, err := kernel.GetRegs(tid)
	if err != nil {
		return nil, fmt.Errorf("tid %d: %w", tid, err)
	}
	regs.Rsp = 0
	if err := kernel.SetSigmask(tid, ^uint64(0)); err != nil {
		return nil, fmt.Errorf("tid %d: %w", tid, err)
	}
	// Every gate but the stub's own is gateCode, with its trap.
	return &rthread{tid: tid, r: &ptrace.Remote{Tid: tid, Gate: gate, Base: regs, Trap: gate != stub.Gate}, img: img}, nil
}

// cloneThreads creates every thread but the leader, with its original tid
// unless the pids are new.
func (b *builder) cloneThreads() error {
	if len(b.p.Threads) > 1 {
		if err := b.flush(); err != nil { // clone3 runs by itself, after what is queued
			return err
		}
	}
	for i := range b.p.Threads {
		img := &b.p.Threads[i]
		if img.Tid == b.p.Pid {
			continue
		}
		tid, err := clone3(b.threads[0].r, b.mem, b.scratch, threadFlags, 0, b.want(img.Tid))
		if err != nil {
			return fmt.Errorf("pid %d: thread %d: %w", b.pid, img.Tid, err)
		}
		b.pids[img.Tid] = tid
		t, err := newRthread(tid, b.gate, img)
		if err != nil {
			return err
		}
		b.threads = append(b.threads, t)
	}
	return nil
}

// threadState restores what each thread holds of its own.
func (b *builder) threadState(t *rthread) error {
	th := t.img
	fail := func(what string, err error) error {
		return fmt.Errorf("pid %d tid %d: %s: %w", b.pid, t.tid, what, err)
	}
	if err := b.laterIn(t, 0, "set_tid_address", unix.SYS_SET_TID_ADDRESS, th.ClearChildTid); err != nil {
		return err
	}
	if th.RobustList != 0 {
		if err := b.laterIn(t, 0, "set_robust_list", unix.SYS_SET_ROBUST_LIST, th.RobustList, th.RobustLen); err != nil {
			return err
		}
	}
	if th.AltStack.Flags&kernel.SS_DISABLE == 0 {
		ss := make([]byte, 24)
		le.PutUint64(ss, th.AltStack.SP)
		le.PutUint32(ss[8:], uint32(th.AltStack.Flags))
		le.PutUint64(ss[16:], th.AltStack.Size)
		if err := b.laterIn(t, 0, "sigaltstack", unix.SYS_SIGALTSTACK, b.laterData(ss), 0); err != nil {
			return err
		}
	}
	if th.Rseq.Addr != 0 {
		if err := b.laterIn(t, 0, "rseq", unix.SYS_RSEQ, th.Rseq.Addr, uint64(th.Rseq.Len), 0, uint64(th.Rseq.Sig)); err != nil {
			return err
		}
	}
	if needsTiles(th.Xstate) {
		if err := b.flush(); err != nil { // enableTiles runs code in the thread
			return err
		}
		if err := b.enableTiles(t); err != nil {
			return fail("AMX tile state", err)
		}
	}
	if len(th.Xstate) > 0 {
		if err := kernel.SetRegSet(t.tid, unix.NT_X86_XSTATE, th.Xstate); err != nil {
			return fail("xstate (FPU/SSE/AVX registers; does this CPU have the features of the checkpointing one?)", err)
		}
	}
	name := []byte(th.Comm)
	if len(name) > 15 {
		name = name[:15]
	}
	if err := b.laterIn(t, 0, "comm", unix.SYS_PRCTL, unix.PR_SET_NAME, b.laterData(append(name, 0))); err != nil {
		return err
	}
	for _, s := range th.Pending {
		if err := b.queueSignal(t.tid, s, false); err != nil {
			return err
		}
	}
	return nil
}

// creds sets each thread's credentials to the image's, last, so that
// nothing before runs with less privilege than the rebuild needs and the
// process never runs with more than it had.
func (b *builder) creds(t *rthread) error {
	c := b.p.Creds
	if len(c.Groups) > 65536 {
		return fmt.Errorf("pid %d: %d groups: image damaged", b.pid, len(c.Groups))
	}
	g := make([]byte, 4*len(c.Groups)+4)
	for i, x := range c.Groups {
		le.PutUint32(g[4*i:], uint32(x))
	}
	const hint = " (the image belongs to another user?)"
	// Everything here but the probe of the bounding set waits in the
	// queue: one stop for the lot.
	var groupsOK uint32 // what the supplementary groups may fail with
	if os.Getuid() != 0 {
		groupsOK = anyErrno
	}
	if len(g) > laterDataMax {
		// Too many groups for the queue's data: at once, from scratch.
		if err := b.mem.WriteAt(g, b.scratch); err != nil {
			return err
		}
		if err := b.laterIn(t, groupsOK, "restore supplementary groups"+hint, unix.SYS_SETGROUPS, uint64(len(c.Groups)), b.scratch); err != nil {
			return err
		}
		if err := b.flush(); err != nil {
			return err
		}
	} else if err := b.laterIn(t, groupsOK, "restore supplementary groups"+hint, unix.SYS_SETGROUPS, uint64(len(c.Groups)), b.laterData(g)); err != nil {
		return err
	}
	if err := b.laterIn(t, 0, fmt.Sprintf("restore gids %v", c.Gid[:3])+hint, unix.SYS_SETRESGID, uint64(c.Gid[0]), uint64(c.Gid[1]), uint64(c.Gid[2])); err != nil {
		return err
	}
	// Securebits need CAP_SETPCAP, and say what setresuid does to the
	// capabilities: before it. An image whose bits cannot be set is
	// refused, never restored with fewer restrictions.
	if b.p.Securebits != 0 {
		if err := b.laterIn(t, 0, fmt.Sprintf("restore securebits %#x", b.p.Securebits)+hint, unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, uint64(b.p.Securebits)); err != nil {
			return err
		}
	}
	// The bounding set can only shrink, and needs CAP_SETPCAP: before
	// setresuid. Which capabilities the thread has in it (cr_restart's
	// set, inherited; none beyond this kernel's) its status says.
	st, err := proc.ReadStatus(t.tid)
	if err != nil {
		return fmt.Errorf("pid %d tid %d: %w", b.pid, t.tid, err)
	}
	for capn := uint64(0); capn < 64; capn++ {
		if c.CapBnd&(1<<capn) != 0 || st.CapBnd&(1<<capn) == 0 {
			continue
		}
		if err := b.laterIn(t, 0, fmt.Sprintf("restore bounding set (drop capability %d)", capn)+hint, unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, capn); err != nil {
			return err
		}
	}
	if err := b.laterIn(t, 0, fmt.Sprintf("restore uids %v", c.Uid[:3])+hint, unix.SYS_SETRESUID, uint64(c.Uid[0]), uint64(c.Uid[1]), uint64(c.Uid[2])); err != nil {
		return err
	}
	// setresuid may have cleared the capability sets (to a non-root uid);
	// where it did not, make them exactly the recorded ones.
	hdr := make([]byte, 8+24)
	le.PutUint32(hdr, unix.LINUX_CAPABILITY_VERSION_3)
	for i, v := range []uint64{c.CapEff, c.CapPrm, c.CapInh} {
		le.PutUint32(hdr[8+4*i:], uint32(v))
		le.PutUint32(hdr[8+12+4*i:], uint32(v>>32))
	}
	at := b.laterData(hdr)
	if err := b.laterIn(t, 0, "restore capabilities"+hint, unix.SYS_CAPSET, at, at+8); err != nil {
		return err
	}
	// The ambient set is inherited from cr_restart (which, restarting for
	// an ordinary user, holds every capability of its user namespace as
	// ambient ones): empty it, then raise the recorded ones, which the
	// kernel allows only inside the permitted and inheritable sets just set.
	if err := b.laterIn(t, uint32(unix.EINVAL), "restore ambient capabilities (clear)"+hint, unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return err
	}
	for capn := uint64(0); capn < 64; capn++ {
		if c.CapAmb&(1<<capn) == 0 {
			continue
		}
		if err := b.laterIn(t, 0, fmt.Sprintf("restore ambient capability %d", capn)+hint, unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, capn, 0, 0); err != nil {
			return err
		}
	}
	return nil
}

// ready gives each thread its saved registers and mask, and queues the
// signals it is to take once let go (letGo).
func (b *builder) ready(sig unix.Signal) error {
	for _, t := range b.threads {
		regs, ok := kernel.RegsFromBytes(t.img.Regs)
		if !ok {
			return fmt.Errorf("pid %d tid %d: registers: image damaged", b.pid, t.tid)
		}
		regs = ptrace.RestoredRegs(regs)
		if err := kernel.SetRegs(t.tid, &regs); err != nil {
			return fmt.Errorf("pid %d tid %d: registers: %w", b.pid, t.tid, err)
		}
		if err := kernel.SetSigmask(t.tid, t.img.SigMask); err != nil {
			return fmt.Errorf("pid %d tid %d: %w", b.pid, t.tid, err)
		}
	}
	// Queued now, taken once detached: a process that was stopped stops
	// again, and a SIGCONT after it (--cont) cancels that.
	for _, s := range []unix.Signal{b.stopSignal(), sig} {
		if s == 0 {
			continue
		}
		if err := unix.Kill(b.pid, s); err != nil {
			return fmt.Errorf("pid %d: kill(%v): %w", b.pid, s, err)
		}
	}
	return nil
}

// letGo detaches every thread, which runs on from the registers ready
// gave it.
func (b *builder) letGo() error {
	for _, t := range b.threads {
		if err := ptrace.Detach(t.tid, 0); err != nil {
			return err
		}
	}
	return nil
}

// stopSignal is SIGSTOP for a process that was stopped by job control
// when checkpointed, else 0.
func (b *builder) stopSignal() unix.Signal {
	if b.p.Stopped {
		return unix.SIGSTOP
	}
	return 0
}
