package kernel

import (
	"errors"
	"fmt"
	"os"

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

// TakeFd returns a duplicate of fd of process pid (pidfd_open, then
// pidfd_getfd), close-on-exec, named name.
func TakeFd(pid, fd int, name string) (*os.File, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, syserr("pidfd_open", err))
	}
	defer unix.Close(pidfd)
	ours, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return nil, fmt.Errorf("pid %d fd %d: %w", pid, fd, syserr("pidfd_getfd", err))
	}
	return os.NewFile(uintptr(ours), name), nil
}
