package restart

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/ptrace"
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
	return &rthread{tid: tid, r: &ptrace.Remote{Tid: tid, Gate: gate, Base: regs}, img: img}, nil
}

// cloneThreads creates every thread but the leader, with its original tid
// unless the pids are new.
func (b *builder) cloneThreads() error {
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
	if _, err := b.callIn(t.tid, unix.SYS_SET_TID_ADDRESS, th.ClearChildTid); err != nil {
		return fail("set_tid_address", err)
	}
	if th.RobustList != 0 {
		if _, err := b.callIn(t.tid, unix.SYS_SET_ROBUST_LIST, th.RobustList, th.RobustLen); err != nil {
			return fail("set_robust_list", err)
		}
	}
	if th.AltStack.Flags&kernel.SS_DISABLE == 0 {
		ss := make([]byte, 24)
		le.PutUint64(ss, th.AltStack.SP)
		le.PutUint32(ss[8:], uint32(th.AltStack.Flags))
		le.PutUint64(ss[16:], th.AltStack.Size)
		if err := b.mem.WriteAt(ss, b.scratch); err != nil {
			return err
		}
		if _, err := b.callIn(t.tid, unix.SYS_SIGALTSTACK, b.scratch, 0); err != nil {
			return fail("sigaltstack", err)
		}
	}
	if th.Rseq.Addr != 0 {
		if _, err := b.callIn(t.tid, unix.SYS_RSEQ, th.Rseq.Addr, uint64(th.Rseq.Len), 0, uint64(th.Rseq.Sig)); err != nil {
			return fail("rseq", err)
		}
	}
	if needsTiles(th.Xstate) {
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
	if err := b.mem.WriteAt(append(name, 0), b.scratch); err != nil {
		return err
	}
	if _, err := b.callIn(t.tid, unix.SYS_PRCTL, unix.PR_SET_NAME, b.scratch); err != nil {
		return fail("comm", err)
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
	if err := b.mem.WriteAt(g, b.scratch); err != nil {
		return err
	}
	fail := func(what string, err error) error {
		return fmt.Errorf("pid %d tid %d: restore %s: %w (the image belongs to another user?)", b.pid, t.tid, what, err)
	}
	if _, err := b.callIn(t.tid, unix.SYS_SETGROUPS, uint64(len(c.Groups)), b.scratch); err != nil && os.Getuid() == 0 {
		return fail("supplementary groups", err)
	}
	if _, err := b.callIn(t.tid, unix.SYS_SETRESGID, uint64(c.Gid[0]), uint64(c.Gid[1]), uint64(c.Gid[2])); err != nil {
		return fail(fmt.Sprintf("gids %v", c.Gid[:3]), err)
	}
	// Securebits need CAP_SETPCAP, and say what setresuid does to the
	// capabilities: before it. An image whose bits cannot be set is
	// refused, never restored with fewer restrictions.
	if b.p.Securebits != 0 {
		if _, err := b.callIn(t.tid, unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, uint64(b.p.Securebits)); err != nil {
			return fail(fmt.Sprintf("securebits %#x", b.p.Securebits), err)
		}
	}
	// The bounding set can only shrink, and needs CAP_SETPCAP: before setresuid.
	for capn := uint64(0); capn < 64; capn++ {
		if c.CapBnd&(1<<capn) != 0 {
			continue
		}
		// Not in the set, or not a capability of this kernel: dropping it
		// would need CAP_SETPCAP all the same.
		if in, err := b.callIn(t.tid, unix.SYS_PRCTL, unix.PR_CAPBSET_READ, capn); err == nil && in == 0 || errors.Is(err, unix.EINVAL) {
			continue
		}
		if _, err := b.callIn(t.tid, unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, capn); err != nil && !errors.Is(err, unix.EINVAL) {
			return fail(fmt.Sprintf("bounding set (drop capability %d)", capn), err)
		}
	}
	if _, err := b.callIn(t.tid, unix.SYS_SETRESUID, uint64(c.Uid[0]), uint64(c.Uid[1]), uint64(c.Uid[2])); err != nil {
		return fail(fmt.Sprintf("uids %v", c.Uid[:3]), err)
	}
	// setresuid may have cleared the capability sets (to a non-root uid);
	// where it did not, make them exactly the recorded ones.
	hdr := make([]byte, 8+24)
	le.PutUint32(hdr, unix.LINUX_CAPABILITY_VERSION_3)
	for i, v := range []uint64{c.CapEff, c.CapPrm, c.CapInh} {
		le.PutUint32(hdr[8+4*i:], uint32(v))
		le.PutUint32(hdr[8+12+4*i:], uint32(v>>32))
	}
	if err := b.mem.WriteAt(hdr, b.scratch); err != nil {
		return err
	}
	if _, err := b.callIn(t.tid, unix.SYS_CAPSET, b.scratch, b.scratch+8); err != nil {
		return fail("capabilities", err)
	}
	// The ambient set is inherited from cr_restart (which, restarting for
	// an ordinary user, holds every capability of its user namespace as
	// ambient ones): empty it, then raise the recorded ones, which the
	// kernel allows only inside the permitted and inheritable sets just set.
	if _, err := b.callIn(t.tid, unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fail("ambient capabilities (clear)", err)
	}
	for capn := uint64(0); capn < 64; capn++ {
		if c.CapAmb&(1<<capn) == 0 {
			continue
		}
		if _, err := b.callIn(t.tid, unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, capn, 0, 0); err != nil {
			return fail(fmt.Sprintf("ambient capability %d", capn), err)
		}
	}
	return nil
}

// release gives each thread its saved registers and mask and detaches it.
func (b *builder) release(sig unix.Signal) error {
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
