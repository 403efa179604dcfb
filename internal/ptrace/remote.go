package ptrace

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
	"stasis/internal/trace"
)

// Remote runs system calls inside one stopped thread. Gate is the address
// of a syscall instruction mapped executable in the thread's process.
// Base holds registers to start from; the thread is left with modified
// registers, and the caller puts the right ones back before releasing it.
type Remote struct {
	Tid  int
	Gate uint64
	Base unix.PtraceRegs
	// OnEvent, if set, is told of ptrace event stops (clone, fork) seen
	// during a call, with the new task's id.
	OnEvent func(event int, newTid int)
	// Rescue, if set, runs each call from its code instead of Gate, with
	// every signal blocked, and leaves the thread after each call with
	// registers Base and signal mask Mask, which must be the thread's own
	// (see Rescue).
	Rescue *Rescue
	Mask   uint64
	// Chain, with Rescue, leaves the thread after a call that succeeded
	// where the call left it, in the rescue code with every signal
	// blocked, instead of putting its own mask and registers back: the
	// next call then costs only its registers, not the three requests of
	// putting back and blocking again. A tracer that dies in between
	// leaves a thread that runs on into the rescue code, which puts both
	// back. End puts them back; call it before another thread of the
	// process runs a call (the rescue code holds one thread's registers)
	// and before the code is erased.
	Chain bool
	held  bool // chained: the thread is still the last call's
	// Trap says that the instruction after Gate's syscall is an int3:
	// a call then runs to that trap with one PTRACE_CONT and one stop,
	// instead of stopping at the syscall's entry and again at its exit.
	// Not with Rescue.
	Trap bool
}

// Errno is a system call's failure inside a tracee.
type Errno struct {
	Nr    uint64
	Errno unix.Errno
}

func (e *Errno) Error() string { return fmt.Sprintf("syscall %d: %v", e.Nr, e.Errno) }
func (e *Errno) Unwrap() error { return e.Errno }

// Syscall runs system call nr with up to six arguments and returns rax.
// A result in [-4095, -1] is returned as an *Errno.
//
// Precondition: called on the owner thread.
func (r *Remote) Syscall(nr uint64, args ...uint64) (uint64, error) {
	if r.Rescue != nil {
		return r.rescued(nr, args...)
	}
	return r.run(r.Gate, nr, args...)
}

// rescued runs a call from the rescue code. The order of the steps is
// what makes each moment safe to be let go at: the call's registers are
// set before the mask is blocked, the mask is put back before the
// registers, and the code after the syscall puts back both. Chained, the
// next call's registers are set while the mask is still blocked, where
// the thread is let go into the same code as at the call's exit.
//
// Precondition: called on the owner thread.
func (r *Remote) rescued(nr uint64, args ...uint64) (v uint64, err error) {
	if r.held {
		fault(stepDone) // of the call before, whose thread is not put back
	}
	entry, err := r.Rescue.entry(nr, r.Base, r.Mask)
	if err != nil {
		return 0, fmt.Errorf("tid %d: %w", r.Tid, err)
	}
	calls++
	defer func() {
		if err == nil && r.Chain {
			r.held = true
			return
		}
		r.held = false
		merr := kernel.SetSigmask(r.Tid, r.Mask)
		fault(stepDone)
		rerr := kernel.SetRegs(r.Tid, &r.Base)
		if err == nil {
			if err = merr; err == nil {
				err = rerr
			}
			if err != nil {
				err = fmt.Errorf("tid %d: %w", r.Tid, err)
			}
		}
	}()
	return r.run(entry, nr, args...)
}

// End gives a thread that Chain left in the rescue code its own signal
// mask and registers back: the mask first, as after an unchained call.
//
// Precondition: called on the owner thread.
func (r *Remote) End() error {
	if !r.held {
		return nil
	}
	r.held = false
	merr := kernel.SetSigmask(r.Tid, r.Mask)
	fault(stepDone)
	rerr := kernel.SetRegs(r.Tid, &r.Base)
	if err := errors.Join(merr, rerr); err != nil {
		return fmt.Errorf("tid %d: %w", r.Tid, err)
	}
	return nil
}

// run runs the call from the syscall instruction at gate.
//
// Precondition: called on the owner thread.
func (r *Remote) run(gate, nr uint64, args ...uint64) (uint64, error) {
	trace.Count("remote system calls", 1)
	regs := r.Base
	regs.Rip = gate
	regs.Rax = nr
	regs.Orig_rax = ^uint64(0) // not in a syscall: no restart logic on resume
	dst := []*uint64{&regs.Rdi, &regs.Rsi, &regs.Rdx, &regs.R10, &regs.R8, &regs.R9}
	for i, a := range args {
		*dst[i] = a
	}
	if err := kernel.SetRegs(r.Tid, &regs); err != nil {
		return 0, fmt.Errorf("tid %d: %w", r.Tid, err)
	}
	if r.Rescue != nil {
		fault(stepRegs)
		if !r.held {
			if err := kernel.SetSigmask(r.Tid, ^uint64(0)); err != nil {
				return 0, fmt.Errorf("tid %d: %w", r.Tid, err)
			}
		}
		fault(stepMask)
	}
	if r.Trap && r.Rescue == nil {
		return r.runToTrap(nr)
	}
	for phase := 0; phase < 2; {
		if err := unix.PtraceSyscall(r.Tid, 0); err != nil {
			return 0, fmt.Errorf("tid %d: ptrace(PTRACE_SYSCALL): %w", r.Tid, err)
		}
		s, err := Wait(r.Tid)
		if err != nil {
			return 0, fmt.Errorf("remote syscall %d: %w", nr, err)
		}
		switch {
		case s.Syscall():
			phase++
			if r.Rescue != nil {
				fault(stepEntry + phase - 1)
			}
		case s.Event() > 0:
			if r.OnEvent != nil {
				msg, err := kernel.GetEventMsg(r.Tid)
				if err != nil {
					return 0, fmt.Errorf("tid %d: %w", r.Tid, err)
				}
				r.OnEvent(s.Event(), int(msg))
			}
		default:
			return 0, fmt.Errorf("tid %d: remote syscall %d: unexpected %v", r.Tid, nr, s)
		}
	}
	return r.result(nr)
}

// runToTrap runs the call whose registers are set to the int3 after it,
// and returns its result.
//
// Precondition: called on the owner thread.
func (r *Remote) runToTrap(nr uint64) (uint64, error) {
	for {
		if err := unix.PtraceCont(r.Tid, 0); err != nil {
			return 0, fmt.Errorf("tid %d: ptrace(PTRACE_CONT): %w", r.Tid, err)
		}
		s, err := Wait(r.Tid)
		if err != nil {
			return 0, fmt.Errorf("remote syscall %d: %w", nr, err)
		}
		if s.Signal() == unix.SIGTRAP {
			break
		}
		if s.Event() == 0 {
			return 0, fmt.Errorf("tid %d: remote syscall %d: unexpected %v", r.Tid, nr, s)
		}
		if r.OnEvent != nil {
			msg, err := kernel.GetEventMsg(r.Tid)
			if err != nil {
				return 0, fmt.Errorf("tid %d: %w", r.Tid, err)
			}
			r.OnEvent(s.Event(), int(msg))
		}
	}
	return r.result(nr)
}

// result is the result of call nr, from the thread's registers.
//
// Precondition: called on the owner thread.
func (r *Remote) result(nr uint64) (uint64, error) {
	out, err := kernel.GetRegs(r.Tid)
	if err != nil {
		return 0, fmt.Errorf("tid %d: %w", r.Tid, err)
	}
	if v := int64(out.Rax); v < 0 && v >= -4095 {
		return 0, &Errno{Nr: nr, Errno: unix.Errno(-v)}
	}
	return out.Rax, nil
}

// ResumeRegs returns the registers that let a live thread, stopped by
// PTRACE_INTERRUPT inside an interrupted system call, carry on as the
// kernel would have: the call is re-issued, or restart_syscall resumes it.
// Once a remote syscall has run in the thread the kernel no longer does
// this itself, so these are the registers to put back.
func ResumeRegs(r unix.PtraceRegs) unix.PtraceRegs {
	if int64(r.Orig_rax) < 0 {
		return r
	}
	switch -int64(r.Rax) {
	case kernel.ERESTARTSYS, kernel.ERESTARTNOINTR, kernel.ERESTARTNOHAND:
		r.Rax = r.Orig_rax
		r.Rip -= 2
	case kernel.ERESTART_RESTARTBLOCK:
		r.Rax = kernel.NR_restart_syscall
		r.Rip -= 2
	}
	r.Orig_rax = ^uint64(0)
	return r
}

// RestoredRegs returns the registers a thread rebuilt from an image starts
// with: an interrupted call is re-issued, except ERESTART_RESTARTBLOCK,
// whose kernel-side state did not survive, which returns EINTR.
func RestoredRegs(r unix.PtraceRegs) unix.PtraceRegs {
	if int64(r.Orig_rax) >= 0 && -int64(r.Rax) == kernel.ERESTART_RESTARTBLOCK {
		eintr := -int64(unix.EINTR)
		r.Rax = uint64(eintr)
		r.Orig_rax = ^uint64(0)
		return r
	}
	return ResumeRegs(r)
}
