package ptrace

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
	"stasis/internal/proc"
	"stasis/internal/trace"
)

// Stop describes why a tracee stopped.
type Stop struct {
	Status unix.WaitStatus
}

// Syscall reports a syscall-entry or -exit stop (PTRACE_O_TRACESYSGOOD).
func (s Stop) Syscall() bool {
	return s.Status.Stopped() && s.Status.StopSignal() == unix.SIGTRAP|0x80
}

// Event returns the PTRACE_EVENT_* of an event stop, or 0. A group stop
// of a seized tracee is a PTRACE_EVENT_STOP whose stop signal is the
// stopping signal, not SIGTRAP (which is all unix.WaitStatus.TrapCause
// knows).
func (s Stop) Event() int {
	if !s.Status.Stopped() {
		return 0
	}
	return int(uint32(s.Status)>>16) & 0xff
}

// GroupStop reports a seized tracee's group stop (SIGSTOP and its kin).
func (s Stop) GroupStop() bool {
	return s.Event() == unix.PTRACE_EVENT_STOP && s.Status.StopSignal() != unix.SIGTRAP
}

// Signal returns the signal of a signal-delivery stop, or 0.
func (s Stop) Signal() unix.Signal {
	if !s.Status.Stopped() || s.Syscall() || s.Event() != 0 {
		return 0
	}
	return s.Status.StopSignal()
}

func (s Stop) String() string {
	ws := s.Status
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by %v", ws.Signal())
	case s.Syscall():
		return "syscall stop"
	case s.GroupStop():
		return fmt.Sprintf("group stop by %v", ws.StopSignal())
	case s.Event() > 0:
		return fmt.Sprintf("ptrace event %d stop", s.Event())
	case ws.Stopped():
		return fmt.Sprintf("stopped by %v", ws.StopSignal())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// ErrGone reports a tracee that exited or was killed while we waited.
type ErrGone struct {
	Tid  int
	Stop Stop
}

func (e *ErrGone) Error() string { return fmt.Sprintf("tid %d %v", e.Tid, e.Stop) }

// Wait waits for the next stop of tid.
//
// Precondition: called on the owner thread.
//
// A process that is also our child and has exited is left unreaped, for
// the code that waits for our children (an agent's reaper) to collect:
// taking its status here would lose it.
func Wait(tid int) (Stop, error) {
	trace.Count("ptrace waits", 1)
	gone, ws, err := kernel.PeekExit(tid)
	if err != nil {
		return Stop{}, fmt.Errorf("tid %d: %w", tid, err)
	}
	if gone {
		if st, err := proc.ReadStatus(tid); err == nil && st.PPid == os.Getpid() && st.Tgid == tid {
			s := Stop{ws}
			return s, &ErrGone{Tid: tid, Stop: s}
		}
	}
	_, ws, err = kernel.Wait4(tid, 0)
	if err != nil {
		return Stop{}, fmt.Errorf("tid %d: %w", tid, err)
	}
	s := Stop{ws}
	if ws.Exited() || ws.Signaled() {
		return s, &ErrGone{Tid: tid, Stop: s}
	}
	return s, nil
}
