package kernel

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Wait4 waits for tid with __WALL, retrying on EINTR.
func Wait4(tid int, options int) (int, unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		wpid, err := unix.Wait4(tid, &ws, options|unix.WALL, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return wpid, ws, syserr("wait4", err)
	}
}

// Restart codes a thread interrupted inside a system call shows in rax.
const (
	ERESTARTSYS           = 512
	ERESTARTNOINTR        = 513
	ERESTARTNOHAND        = 514
	ERESTART_RESTARTBLOCK = 516
	NR_restart_syscall    = 219
)

// Constants x/sys lacks.
const (
	SS_ONSTACK      = 1
	SS_DISABLE      = 2
	SIGEV_SIGNAL    = 0
	SIGEV_NONE      = 1
	SIGEV_THREAD_ID = 4
)
