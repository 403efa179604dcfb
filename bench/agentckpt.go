package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"stasis/internal/proc"
)

// agentCheckpointTarget: a checkpoint requested through cr_run's agent
// takes at most 5 ms longer than a direct one of the same program
// (issue 16).
const agentCheckpointTarget = 5

// agentCheckpoint checkpoints with --run, to tmpfs, the random program of
// 16 MiB started bare (directly) and one started under cr_run (through its
// agent), in turns, after a warm-up of each, and judges the difference of
// the medians.
func agentCheckpoint(cfg *config) (result, error) {
	r, done, err := shmRunner(cfg, "fill")
	if err != nil {
		return result{}, err
	}
	defer done()
	work, exe := r.work, r.exe
	bare, err := r.fill("random", 16)
	if err != nil {
		return result{}, err
	}
	agent, err := r.start(r.cmd("cr_run", exe, "random", "16"), "cr_run")
	if err != nil {
		return result{}, err
	}
	job, err := agentJob(agent)
	if err != nil {
		return result{}, err
	}
	img := filepath.Join(work, "img")
	var direct, through []time.Duration
	for i := -1; i < timedRuns(cfg); i++ {
		for _, s := range []struct {
			pid int
			to  *[]time.Duration
		}{{bare.pid, &direct}, {job, &through}} {
			d, err := run(r.cmd("cr_checkpoint", "--run", "-f", img, strconv.Itoa(s.pid)))
			if err != nil {
				return result{}, err
			}
			if i >= 0 {
				*s.to = append(*s.to, d)
			}
			if err := os.Remove(img); err != nil {
				return result{}, err
			}
		}
	}
	dLo, dHi := minMax(direct)
	tLo, tHi := minMax(through)
	diff := median(through) - median(direct)
	return result{
		figures: fmt.Sprintf("direct %s (%s-%s)  through cr_run's agent %s (%s-%s)",
			ms(median(direct)), ms(dLo), ms(dHi), ms(median(through)), ms(tLo), ms(tHi)),
		ratio:  float64(diff) / float64(time.Millisecond),
		unit:   "ms more",
		target: agentCheckpointTarget,
		notes: []string{fmt.Sprintf("cr_checkpoint --run of fill random 16 MiB, bare and under cr_run, in turns, median of %d each after a warm-up; image in %s (tmpfs)",
			len(direct), work)},
		detail: []string{
			fmt.Sprintf("%-9s %s", "direct:", runList(direct)),
			fmt.Sprintf("%-9s %s", "agent:", runList(through)),
		},
	}, nil
}

// agentJob waits until cr_run (c) has a child that printed ready, and
// returns its pid.
func agentJob(c *child) (int, error) {
	for deadline := time.Now().Add(cmdTimeout); ; time.Sleep(5 * time.Millisecond) {
		out, err := os.ReadFile(c.stdout)
		if err != nil {
			return 0, err
		}
		if string(out) == "ready\n" {
			// Any thread of cr_run (a Go program) may have forked it.
			tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", c.pid))
			var b []byte
			for _, t := range tasks {
				kids, _ := os.ReadFile(t)
				b = append(b, kids...)
			}
			pid, err := strconv.Atoi(string(trimSpace(b)))
			if err != nil {
				return 0, fmt.Errorf("cr_run %d: its children are %q, want one", c.pid, b)
			}
			if st, err := proc.ReadStat(pid); err != nil || st.PPid != c.pid {
				return 0, fmt.Errorf("cr_run %d: pid %d is not its child", c.pid, pid)
			}
			return pid, nil
		}
		if c.exited() || time.Now().After(deadline) {
			return 0, fmt.Errorf("cr_run fill random 16 not ready%s", c.describe())
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
