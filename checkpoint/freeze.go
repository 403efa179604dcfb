package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
	"stasis/internal/proc"
	"stasis/internal/ptrace"
)

// task is one frozen thread.
type task struct {
	tid     int
	regs    unix.PtraceRegs // as found at the interrupt stop
	sigmask uint64
	touched bool // a remote syscall ran in it: registers must be put back
}

// check refuses what can never be checkpointed, with the reason.
func check(pid int) (*proc.Stat, *proc.Status, error) {
	if pid <= 0 {
		return nil, nil, fmt.Errorf("pid %d: not a process id", pid)
	}
	if pid == os.Getpid() {
		return nil, nil, fmt.Errorf("pid %d: is cr_checkpoint itself", pid)
	}
	st, err := proc.ReadStat(pid)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("pid %d: no such process", pid)
	}
	if err != nil {
		return nil, nil, err
	}
	status, err := proc.ReadStatus(pid)
	if err != nil {
		return nil, nil, err
	}
	if st.Flags&proc.PF_KTHREAD != 0 || status.Kthread {
		return nil, nil, fmt.Errorf("pid %d (%s): kernel thread: cannot be checkpointed", pid, st.Comm)
	}
	if st.State == 'Z' || st.State == 'X' {
		return nil, nil, fmt.Errorf("pid %d (%s): zombie: nothing left to checkpoint", pid, st.Comm)
	}
	if status.TracerPid != 0 {
		return nil, nil, fmt.Errorf("pid %d (%s): already traced by pid %d", pid, st.Comm, status.TracerPid)
	}
	return st, status, nil
}

// freeze stops every thread of pid, re-reading the thread list until no
// thread appears that is not yet stopped (a stopped thread creates none).
//
// Precondition: called on the owner thread.
func freeze(pid int) ([]*task, error) {
	var tasks []*task
	seen := map[int]bool{}
	for {
		tids, err := proc.Tasks(pid)
		if err != nil {
			thaw(tasks)
			return nil, err
		}
		found := false
		for _, tid := range tids {
			if seen[tid] {
				continue
			}
			seen[tid] = true
			found = true
			if err := ptrace.Freeze(tid); err != nil {
				if errors.Is(err, unix.ESRCH) && tid != pid {
					continue // the thread exited meanwhile
				}
				thaw(tasks)
				if errors.Is(err, unix.EPERM) {
					return nil, fmt.Errorf("pid %d: not permitted to trace it (another user's process, or ptrace restricted by Yama): %w", pid, err)
				}
				return nil, fmt.Errorf("pid %d: freeze: %w", pid, err)
			}
			t := &task{tid: tid}
			tasks = append(tasks, t)
			if t.regs, err = kernel.GetRegs(tid); err == nil {
				t.sigmask, err = kernel.GetSigmask(tid)
			}
			if err != nil {
				thaw(tasks)
				return nil, fmt.Errorf("pid %d tid %d: %w", pid, tid, err)
			}
		}
		if !found {
			return tasks, nil
		}
	}
}

// putBack gives the threads that ran remote syscalls their registers and
// masks as found. They stay stopped.
//
// Precondition: called on the owner thread.
func putBack(tasks []*task) error {
	var first error
	for _, t := range tasks {
		if !t.touched {
			continue
		}
		regs := ptrace.ResumeRegs(t.regs)
		err := kernel.SetRegs(t.tid, &regs)
		if errors.Is(err, unix.ESRCH) {
			continue // gone: killed after the checkpoint
		}
		if err != nil && first == nil {
			first = fmt.Errorf("tid %d: %w", t.tid, err)
		}
		if err := kernel.SetSigmask(t.tid, t.sigmask); err != nil && first == nil {
			first = fmt.Errorf("tid %d: %w", t.tid, err)
		}
		t.touched = false
	}
	return first
}

// thaw puts back what putBack has not yet, and detaches every thread. It
// is safe after any failure.
//
// Precondition: called on the owner thread.
func thaw(tasks []*task) error {
	first := putBack(tasks)
	for _, t := range tasks {
		if err := ptrace.Detach(t.tid, 0); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// thawKilled is thaw for threads that SIGKILL has been sent to, which the
// kernel takes out of their stops to die: they can no longer be detached,
// and a thread other than the leader that dies traced stays a zombie until
// its tracer reaps it, holding up the end of its process (its pidfd stays
// unreadable) for as long as we live. thawKilled reaps them, waiting at
// most limit; the leader is left to its parent.
//
// Precondition: called on the owner thread.
func thawKilled(tasks []*task, leader int, limit time.Duration) error {
	err := thaw(tasks)
	end := time.Now().Add(limit)
	for _, t := range tasks {
		if t.tid != leader {
			reapKilled(t.tid, end)
		}
	}
	return err
}

// reapKilled waits until the killed thread tid, if it is still ours, has
// ended and reaps it, or until end.
//
// Precondition: called on the owner thread.
func reapKilled(tid int, end time.Time) {
	for {
		wpid, ws, err := kernel.Wait4(tid, unix.WNOHANG)
		if err != nil {
			return // ECHILD: detached after all, or reaped
		}
		if wpid == tid {
			if ws.Exited() || ws.Signaled() {
				return
			}
			unix.PtraceCont(tid, 0) // a last stop on its way out
			continue
		}
		if time.Now().After(end) {
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}
