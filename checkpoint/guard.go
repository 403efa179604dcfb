package checkpoint

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"stasis/internal/proc"
	"stasis/internal/ptrace"
)

// guardEnv, set in its environment, makes a stasis command a snapshot
// guard (see guard) instead of what it is.
const guardEnv = "STASIS_SNAPSHOT_GUARD"

func init() {
	if os.Getenv(guardEnv) != "" {
		os.Exit(guardMain())
	}
}

// A guard is a child process that outlives a checkpointer killed while
// snapshots exist. The kernel kills a snapshot when its tracer dies
// (PTRACE_O_EXITKILL), but the dead snapshot stays a zombie child of the
// process it copies, which only that process can reap; the guard, told of
// every snapshot as it is made and ended, has the process reap the ones
// left once its pipe from the checkpointer reads end of file.
type guard struct {
	cmd *exec.Cmd
	w   *os.File
}

// startGuard starts a guard: this program again, with guardEnv set.
func startGuard() (*guard, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), guardEnv+"=1")
	cmd.ExtraFiles = []*os.File{r} // fd 3
	cmd.Stderr = os.Stderr         // what it could not clean up
	// Its own process group: a terminal's ^C to ours does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("snapshot guard: %w", err)
	}
	return &guard{cmd: cmd, w: w}, nil
}

// outside returns resolve without the guard, which is a child of ours,
// and so of an agent's whole job if we are its agent.
func (g *guard) outside(resolve func() ([]int, error)) func() ([]int, error) {
	if g == nil {
		return resolve
	}
	return func() ([]int, error) {
		pids, err := resolve()
		return slices.DeleteFunc(pids, func(pid int) bool { return pid == g.cmd.Process.Pid }), err
	}
}

// add tells the guard of snapshot snap of process parent, with its start
// time, by which the guard tells it from a process that took its pid after
// it was reaped.
func (g *guard) add(parent, snap int) {
	if g == nil {
		return
	}
	var start uint64
	if st, err := proc.ReadStat(snap); err == nil {
		start = st.StartTime
	}
	fmt.Fprintf(g.w, "+%d %d %d\n", parent, snap, start)
}

// cloning tells the guard that thread tid of process parent is about to
// fork a snapshot from rescue code at address at (0: none), which we may
// die before hearing of: a child of parent with exit signal 0 started
// from now on is one.
func (g *guard) cloning(parent, tid int, at uint64) {
	if g != nil {
		fmt.Fprintf(g.w, "?%d %d %d %d\n", parent, tid, at, bootTicks()-1)
	}
}

// remove tells the guard that snapshot snap is ended.
func (g *guard) remove(snap int) {
	if g != nil {
		fmt.Fprintf(g.w, "-%d\n", snap)
	}
}

// stop ends the guard, which has nothing left to do once every snapshot
// it was told of is removed.
func (g *guard) stop() {
	if g == nil {
		return
	}
	fmt.Fprintf(g.w, "=\n") // we live: do not wait for our end
	g.w.Close()
	g.cmd.Wait() // an agent's reaper may have collected it: no matter
}

// bootTicks returns the time since boot in the clock ticks of a process's
// start time in /proc/PID/stat.
func bootTicks() uint64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return uint64(ts.Nano()) / (1e9 / 100) // USER_HZ
}

// guardMain is the guard process: it reads what the checkpointer tells it
// until end of file, then, once the checkpointer is gone (and so has let
// go of every process it traced), has each snapshot not removed reaped.
func guardMain() int {
	os.Unsetenv(guardEnv)
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	checkpointer, perr := unix.PidfdOpen(os.Getppid(), 0)
	type of struct {
		parent int
		start  uint64
	}
	type fork struct {
		tid   int
		at    uint64
		since uint64
	}
	left := map[int]of{}      // snapshot: its parent and start time
	cloning := map[int]fork{} // parent: a fork not heard of
	alive := false
	sc := bufio.NewScanner(os.NewFile(3, "snapshot guard pipe"))
	for sc.Scan() {
		var parent, snap int
		var start uint64
		var f fork
		line := sc.Text()
		if n, _ := fmt.Sscanf(line, "+%d %d %d", &parent, &snap, &start); n == 3 {
			left[snap] = of{parent, start}
			delete(cloning, parent)
		} else if n, _ := fmt.Sscanf(line, "?%d %d %d %d", &parent, &f.tid, &f.at, &f.since); n == 4 {
			cloning[parent] = f
		} else if n, _ := fmt.Sscanf(line, "-%d", &snap); n == 1 {
			delete(left, snap)
		} else if line == "=" {
			alive = true
		}
	}
	if len(left) == 0 && len(cloning) == 0 {
		return 0
	}
	if !alive && perr == nil {
		// Its tracees are let go only as its last thread exits, after
		// the pipe is closed.
		fds := []unix.PollFd{{Fd: int32(checkpointer), Events: unix.POLLIN}}
		unix.Poll(fds, 30_000)
	}
	owner := ptrace.NewOwner()
	for parent, f := range cloning {
		// A thread let go before its fork would make the child after
		// we looked: it is settled, past the fork, instead.
		if f.at != 0 {
			owner.Do(func() error { return ptrace.SettleThread(parent, f.tid, f.at) })
		}
		for _, snap := range unheardSnapshots(parent, f.since) {
			if _, ok := left[snap.Pid]; !ok {
				left[snap.Pid] = of{parent, snap.StartTime}
			}
		}
	}
	status := 0
	for snap, o := range left {
		// Already reaped (by a parent that waits with __WALL, or by a
		// reaper after the parent died), its pid may be another's now.
		if st, err := proc.ReadStat(snap); err != nil || st.StartTime != o.start || st.PPid != o.parent {
			continue
		}
		s := &snapshot{pid: snap, parent: o.parent}
		if err := owner.Do(func() error { return s.end(nil) }); err != nil {
			fmt.Fprintf(os.Stderr, "stasis snapshot guard: %v\n", err)
			status = 1
		}
	}
	return status
}

// unheardSnapshots returns the children of parent with exit signal 0
// started since the given time: snapshots forked as we died.
func unheardSnapshots(parent int, since uint64) []*proc.Stat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var found []*proc.Stat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := proc.ReadStat(pid)
		if err == nil && st.PPid == parent && st.ExitSignal == 0 && st.StartTime >= since {
			found = append(found, st)
		}
	}
	return found
}
