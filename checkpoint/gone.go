package checkpoint

import (
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/proc"
)

// ends waits for processes to end, as a checkpoint with --kill does for
// the processes it killed: with a pidfd of each, opened before the kill
// (so that a pid reaped and used again is not waited for), all polled at
// once, which the kernel makes readable as the process ends. A process
// whose pidfd could not be opened is watched through /proc/PID/stat.
type ends struct {
	fds  []unix.PollFd
	pids []int // of fds, one for one
	stat []int // pids without a pidfd
}

// watchEnds opens a pidfd for each of pids.
func watchEnds(pids []int) *ends {
	e := &ends{}
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			if err != unix.ESRCH {
				e.stat = append(e.stat, pid)
			}
			continue
		}
		e.fds = append(e.fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		e.pids = append(e.pids, pid)
	}
	return e
}

// wait waits until every process watched no longer runs (it may stay a
// zombie until its parent reaps it), or limit has passed, and closes the
// pidfds.
func (e *ends) wait(limit time.Duration) {
	end := time.Now().Add(limit)
	defer e.close()
	fds, pids := e.fds, e.pids
	for len(fds) > 0 {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			e.stat = append(e.stat, pids...) // watched through /proc instead
			break
		}
		if n == 0 {
			return
		}
		var openFds []unix.PollFd
		var openPids []int
		for i, p := range fds {
			if p.Revents == 0 {
				openFds, openPids = append(openFds, p), append(openPids, pids[i])
			}
		}
		fds, pids = openFds, openPids
	}
	for _, pid := range e.stat {
		waitGone(pid, time.Until(end))
	}
}

// close closes the pidfds; wait does so itself.
func (e *ends) close() {
	for _, p := range e.fds {
		unix.Close(int(p.Fd))
	}
	e.fds, e.pids = nil, nil
}

// waitGone waits until pid no longer runs (it may stay a zombie until its
// parent reaps it).
func waitGone(pid int, limit time.Duration) {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		st, err := proc.ReadStat(pid)
		if err != nil || st.State == 'Z' || st.State == 'X' {
			return
		}
	}
}
