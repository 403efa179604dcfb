// Package agent is the supervisor that cr_run and cr_restart become: the
// parent of the job, which forwards the signals it receives to the job and
// ends as the job ended. (The control socket, the seccomp listener and the
// subreaper role of BLCR-style cooperation are built on this later.)
package agent

import (
	"errors"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
)

// Supervise forwards every signal we receive, except SIGCHLD and the Go
// runtime's SIGURG, to pid until pid exits, and returns its wait status.
// pid must be a child of the calling process.
func Supervise(pid int) unix.WaitStatus {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	done := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		done <- ws
	}()
	for {
		select {
		case ws := <-done:
			return ws
		case s := <-sigs:
			sig := s.(unix.Signal)
			if sig == unix.SIGCHLD || sig == unix.SIGURG {
				continue
			}
			unix.Kill(pid, sig)
		}
	}
}

// Exit ends the calling process as ws says the job ended: with its exit
// status, or killed by the same signal.
func Exit(ws unix.WaitStatus) {
	if ws.Signaled() {
		kernel.DieBySignal(ws.Signal())
	}
	os.Exit(ws.ExitStatus())
}
