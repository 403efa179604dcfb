package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// freezeTarget1G, freezeTarget4G: a --run checkpoint of 1 GiB (4 GiB)
	// keeps the job from running for at most 10 ms (25 ms), as the job
	// itself sees it: the longest gap between the wake-ups of a program
	// that wakes every millisecond (issue 16). The same for a process of
	// freezeThreads threads, all waking every millisecond, of 1 GiB.
	freezeTarget1G = 10
	freezeTarget4G = 25
	freezeThreads  = 64

	// windowSettle: after SIGUSR1 opens tick's window, every thread
	// wakes (and so starts counting) within a millisecond or two; the
	// checkpoint starts after this.
	windowSettle = 20 * time.Millisecond
)

// freezeTarget is the target of a --run checkpoint of mib MiB as the job
// sees it, in ms; 0 where the issue sets none.
func freezeTarget(mib int) float64 {
	switch mib {
	case 1024:
		return freezeTarget1G
	case bigMiB:
		return freezeTarget4G
	}
	return 0
}

// tick starts progs/tick.c (r.tick) with mib MiB of random bytes and
// threads threads, all waking every millisecond, and waits until it is
// ready.
func (r *runner) tickProg(mib, threads int) (*child, error) {
	p, err := r.start(exec.Command(r.tick, strconv.Itoa(mib), strconv.Itoa(threads)), "tick")
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(cmdTimeout); ; time.Sleep(5 * time.Millisecond) {
		out, err := os.ReadFile(p.stdout)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(string(out), "ready\n") {
			return p, nil
		}
		if p.exited() || time.Now().After(deadline) {
			return nil, fmt.Errorf("tick %d %d not ready%s", mib, threads, p.describe())
		}
	}
}

// longestGap opens a window of p (tick), waits windowSettle, runs during,
// closes the window and returns the longest gap between two wake-ups of
// any of p's threads in it, as p prints it.
func longestGap(p *child, during func() error) (time.Duration, error) {
	out, err := os.ReadFile(p.stdout)
	if err != nil {
		return 0, err
	}
	before := len(parseGaps(string(out)))
	if err := syscall.Kill(p.pid, syscall.SIGUSR1); err != nil {
		return 0, fmt.Errorf("pid %d: SIGUSR1: %w", p.pid, err)
	}
	time.Sleep(windowSettle)
	if err := during(); err != nil {
		return 0, err
	}
	if err := syscall.Kill(p.pid, syscall.SIGUSR2); err != nil {
		return 0, fmt.Errorf("pid %d: SIGUSR2: %w", p.pid, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(pollEvery) {
		out, err := os.ReadFile(p.stdout)
		if err != nil {
			return 0, err
		}
		if gaps := parseGaps(string(out)); len(gaps) > before {
			return gaps[before], nil
		}
		if p.exited() || time.Now().After(deadline) {
			return 0, fmt.Errorf("pid %d (tick) printed no gap within 10s of SIGUSR2%s", p.pid, p.describe())
		}
	}
}

// parseGaps returns the gaps of the complete "gap MICROSECONDS" lines of
// tick's output, in order; other lines ("ready") and a last line not yet
// ended are not gaps.
func parseGaps(out string) []time.Duration {
	var gaps []time.Duration
	lines := strings.Split(out, "\n")
	for _, l := range lines[:len(lines)-1] {
		v, ok := strings.CutPrefix(l, "gap ")
		if !ok {
			continue
		}
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		gaps = append(gaps, time.Duration(us)*time.Microsecond)
	}
	return gaps
}

// noiseGap is the longest gap p sees over a window as long as d, without
// a checkpoint: the machine's own noise.
func noiseGap(p *child, d time.Duration) (time.Duration, error) {
	return longestGap(p, func() error { time.Sleep(d); return nil })
}

// threadsFreeze checkpoints a fresh tick of 1 GiB and freezeThreads
// threads with --run to tmpfs, a warm-up round and timedRuns rounds, and
// judges the longest gap any thread saw, beside that of a window as long
// without a checkpoint.
func threadsFreeze(cfg *config) (result, error) {
	const mib = 1024
	r, done, err := shmRunner(cfg, "tick")
	if err != nil {
		return result{}, err
	}
	defer done()
	r.tick = r.exe
	var gaps, noise, walls []time.Duration
	for i := -1; i < timedRuns(cfg); i++ {
		p, err := r.tickProg(mib, freezeThreads)
		if err != nil {
			return result{}, err
		}
		img := filepath.Join(r.work, "run.img")
		var wall time.Duration
		gap, err := longestGap(p, func() error {
			var err error
			wall, err = run(r.cmd("cr_checkpoint", "--run", "-f", img, strconv.Itoa(p.pid)))
			return err
		})
		if err != nil {
			return result{}, err
		}
		if err := os.Remove(img); err != nil {
			return result{}, err
		}
		n, err := noiseGap(p, wall)
		if err != nil {
			return result{}, err
		}
		p.kill()
		if i >= 0 {
			gaps, noise, walls = append(gaps, gap), append(noise, n), append(walls, wall)
		}
	}
	return freezeResult(gaps, noise, walls, freezeTarget1G,
		fmt.Sprintf("%d threads of progs/tick.c, each waking every 1 ms, 1 GiB of random bytes; image in %s (tmpfs)", freezeThreads, r.work)), nil
}

// freezeResult judges the median of gaps, the longest gap the job saw in
// each --run checkpoint (walls), against target (ms; 0: none), beside
// noise, the longest over a window as long without one.
func freezeResult(gaps, noise, walls []time.Duration, target float64, what string) result {
	return result{
		figures: fmt.Sprintf("longest gap during cr_checkpoint --run %s; without a checkpoint %s", spread(gaps), spread(noise)),
		ratio:   float64(median(gaps)) / float64(time.Millisecond),
		unit:    "ms",
		digits:  1,
		target:  target,
		notes: []string{fmt.Sprintf("the longest time between two wake-ups of the job (clock_nanosleep of 1 ms, so 1 ms is no delay), as it prints it, from %v before cr_checkpoint --run starts until it has exited (%s), and over a window as long without a checkpoint (the machine's noise); medians of %d after a warm-up, with the lowest and highest",
			windowSettle, spread(walls), len(gaps)), what},
		detail: []string{
			fmt.Sprintf("%-22s %s", "gap, checkpoint:", runList(gaps)),
			fmt.Sprintf("%-22s %s", "gap, no checkpoint:", runList(noise)),
			fmt.Sprintf("%-22s %s", "cr_checkpoint --run:", runList(walls)),
		},
	}
}
