package ptrace

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
)

// SeizeOptions are the options stasis seizes live threads with. Never
// PTRACE_O_EXITKILL: a job must run on if its checkpointer dies.
const SeizeOptions = unix.PTRACE_O_TRACESYSGOOD

// Freeze seizes tid and stops it with PTRACE_INTERRUPT, returning once it is
// in its interrupt stop. A signal that arrives first is delivered to the
// thread as it would have been without us.
//
// Precondition: called on the owner thread.
func Freeze(tid int) error {
	if err := kernel.Seize(tid, SeizeOptions); err != nil {
		return fmt.Errorf("tid %d: %w", tid, err)
	}
	if err := unix.PtraceInterrupt(tid); err != nil {
		return fmt.Errorf("tid %d: ptrace(PTRACE_INTERRUPT): %w", tid, err)
	}
	for {
		s, err := Wait(tid)
		if err != nil {
			return err
		}
		if s.Event() == unix.PTRACE_EVENT_STOP {
			// The interrupt, or the group stop of a process that was
			// stopped (SIGSTOP) before we came: it stays stopped, and
			// goes back to that stop when we detach.
			return nil
		}
		// A signal-delivery stop: let the signal through, as the kernel
		// would have, and wait for the interrupt stop that follows.
		if err := unix.PtraceCont(tid, int(s.Signal())); err != nil {
			return fmt.Errorf("tid %d: ptrace(PTRACE_CONT): %w", tid, err)
		}
	}
}

// Detach releases a stopped tracee, delivering sig (0 for none).
//
// Precondition: called on the owner thread.
func Detach(tid int, sig unix.Signal) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(tid), 0, uintptr(sig), 0, 0)
	if e != 0 && !errors.Is(e, unix.ESRCH) {
		return fmt.Errorf("tid %d: ptrace(PTRACE_DETACH): %w", tid, e)
	}
	return nil
}
