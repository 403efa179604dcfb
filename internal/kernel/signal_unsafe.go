package kernel

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DieBySignal ends the calling process by sig with the kernel's default
// action, bypassing the Go runtime's handlers, so that our parent sees the
// same termination as if the signal had reached us unhandled.
//
// No core file is written: it would be ours, not the job's, and could
// replace the job's own.
func DieBySignal(sig unix.Signal) {
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	var act [4]uint64 // struct sigaction: SIG_DFL, no flags
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	var set uint64 = 1 << (uint(sig) - 1)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
	os.Exit(128 + int(sig)) // signals that do not terminate by default
}

// Sigaction is the kernel's struct sigaction on x86-64.
type Sigaction struct {
	Handler, Flags, Restorer, Mask uint64
}

// SA_NOCLDSTOP: no SIGCHLD when a child (or a tracee) stops.
const SA_NOCLDSTOP = 1

// RtSigaction sets the action for sig to act (nil: unchanged) and returns
// the action before, bypassing the Go runtime, which does not learn of
// the change: only for flags the runtime does not look at.
func RtSigaction(sig unix.Signal, act *Sigaction) (Sigaction, error) {
	var old Sigaction
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	if e != 0 {
		return old, os.NewSyscallError("rt_sigaction", e)
	}
	return old, nil
}
