package batch

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"stasis/internal/proc"
)

// termSettle is how long cr_job waits after its SIGTERM before it looks at
// the job: a scheduler that ends a job signals all its processes, one
// after another.
const termSettle = 250 * time.Millisecond

// termReached says why the job must not be checkpointed after cr_job got
// SIGTERM, or "" if it may be. Slurm at the time limit, `scancel` without
// --batch, PBS and Grid Engine at the walltime send SIGTERM to every
// process of the job: an image taken then holds a job on its way out (the
// signal pending, or its handler running), and every restart of it would
// end again. So a job in which a process (other than stasis's own agent)
// has SIGTERM pending or catches it is not checkpointed: the image before
// is kept for the rerun. The check cannot see a SIGTERM that arrives
// after it; a job that catches SIGTERM is only checkpointed on the
// warning signal.
func (j *job) termReached() string {
	time.Sleep(termSettle)
	const term = 1 << (15 - 1)
	agents := map[string]bool{filepath.Join(j.cfg.Bin, "cr_run"): true, filepath.Join(j.cfg.Bin, "cr_restart"): true}
	todo := []int{j.agent.Process.Pid}
	for len(todo) > 0 {
		pid := todo[0]
		todo = todo[1:]
		kids, err := proc.Children(pid)
		if err != nil {
			continue // gone
		}
		todo = append(todo, kids...)
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); agents[exe] {
			continue
		}
		st, err := proc.ReadStatus(pid)
		if err != nil {
			continue
		}
		switch {
		case st.ShdPnd&term != 0:
			return fmt.Sprintf("pid %d (%s) has a SIGTERM pending", pid, st.Name)
		case st.SigCgt&term != 0:
			return fmt.Sprintf("pid %d (%s) catches SIGTERM, and may be handling one", pid, st.Name)
		}
	}
	return ""
}
