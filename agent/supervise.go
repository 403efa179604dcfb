package agent

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// supervise forwards signals until the job's main process has exited, and
// returns its wait status.
func (a *Agent) supervise() unix.WaitStatus {
	a.kick()
	for {
		select {
		case ws := <-a.exited:
			return ws
		case s := <-a.sigs:
			a.signal(s.(unix.Signal))
		}
	}
}

// ttySignals are what a terminal sends to its whole foreground group.
var ttySignals = map[unix.Signal]bool{unix.SIGINT: true, unix.SIGQUIT: true, unix.SIGTSTP: true, unix.SIGWINCH: true, unix.SIGHUP: true}

func (a *Agent) signal(sig unix.Signal) {
	switch sig {
	case unix.SIGCHLD:
		chldQueued.Store(false)
		a.kick()
		return
	case a.cfg.CheckpointSignal:
		go a.checkpointOn(sig, false)
		return
	case a.cfg.ExitSignal:
		go a.checkpointOn(sig, true)
		return
	}
	// A terminal has already sent its signals to the job when the job is in
	// its foreground group with us: a second copy would be one too many.
	if !(ttySignals[sig] && a.inForeground()) {
		for _, pid := range a.roots {
			unix.Kill(pid, sig)
		}
	}
	switch sig {
	case unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		unix.Kill(a.self, unix.SIGSTOP) // stop with the job, as a shell expects
	}
}

// inForeground says whether our process group is the foreground group of
// our controlling terminal (and so also the job's, which shares it).
func (a *Agent) inForeground() bool {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return false // no controlling terminal
	}
	defer tty.Close()
	fg, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	if err != nil {
		return false
	}
	jobPgid, err := unix.Getpgid(a.job)
	return err == nil && fg == unix.Getpgrp() && jobPgid == fg
}

// kick asks the reaper to look for exited children.
func (a *Agent) kick() {
	select {
	case a.reap <- struct{}{}:
	default:
	}
}

// reaper collects every exited child (the job's orphans come to us as
// subreaper) and reports the job's main process. It holds mu while it
// waits, so it never takes a ptrace stop meant for a checkpoint.
func (a *Agent) reaper() {
	for range a.reap {
		a.mu.Lock()
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || pid <= 0 {
				break
			}
			if !ws.Exited() && !ws.Signaled() {
				continue
			}
			a.notes.forget(pid)
			if pid == a.job {
				a.first = ws
			}
			if a.live[pid] {
				delete(a.live, pid)
				if len(a.live) == 0 {
					a.exited <- a.first
				}
			}
		}
		a.mu.Unlock()
	}
}
