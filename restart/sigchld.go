package restart

import (
	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
)

// Every ptrace stop of a tracee sends its tracer SIGCHLD unless the
// tracer's action for it has SA_NOCLDSTOP; the Go runtime catches it
// (the agent asks for every signal) and wakes a thread to pass it on, and
// a restore stops its tracees thousands of times. So while it rebuilds
// processes cr_restart keeps its SIGCHLD handler but adds SA_NOCLDSTOP:
// exits still raise SIGCHLD, and wait4 still wakes at every stop.

// quietStops adds SA_NOCLDSTOP to our SIGCHLD action and returns what
// puts the action back as it was.
func quietStops() (undo func()) {
	old, err := kernel.RtSigaction(unix.SIGCHLD, nil)
	if err != nil || old.Handler <= 1 || old.Flags&kernel.SA_NOCLDSTOP != 0 { // SIG_DFL, SIG_IGN: nothing is woken
		return func() {}
	}
	act := old
	act.Flags |= kernel.SA_NOCLDSTOP
	if _, err := kernel.RtSigaction(unix.SIGCHLD, &act); err != nil {
		return func() {}
	}
	return func() { kernel.RtSigaction(unix.SIGCHLD, &old) }
}
