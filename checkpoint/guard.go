package checkpoint

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"

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
	g.w.Close()
	g.cmd.Wait() // an agent's reaper may have collected it: no matter
}

// guardMain is the guard process: it reads what the checkpointer tells it
// until end of file, then has each snapshot not removed reaped.
func guardMain() int {
	os.Unsetenv(guardEnv)
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	type of struct {
		parent int
		start  uint64
	}
	left := map[int]of{} // snapshot: its parent and start time
	sc := bufio.NewScanner(os.NewFile(3, "snapshot guard pipe"))
	for sc.Scan() {
		var parent, snap int
		var start uint64
		if n, _ := fmt.Sscanf(sc.Text(), "+%d %d %d", &parent, &snap, &start); n == 3 {
			left[snap] = of{parent, start}
		} else if n, _ := fmt.Sscanf(sc.Text(), "-%d", &snap); n == 1 {
			delete(left, snap)
		}
	}
	if len(left) == 0 {
		return 0
	}
	owner := ptrace.NewOwner()
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
