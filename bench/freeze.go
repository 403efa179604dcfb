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

	"golang.org/x/sys/unix"
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

// tickProg starts progs/tick.c (r.tick) with mib MiB of random bytes and
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

// A gap is the longest time between two wake-ups of any thread of tick
// in a window, and when it ended: on CLOCK_MONOTONIC as tick prints it,
// after the start of what the window measured as longestGap returns it.
type gap struct{ length, end time.Duration }

// longestGap opens a window of p (tick), waits windowSettle, runs during,
// closes the window and returns the longest gap between two wake-ups of
// any of p's threads in it, as p prints it.
func longestGap(p *child, during func() error) (gap, error) {
	out, err := os.ReadFile(p.stdout)
	if err != nil {
		return gap{}, err
	}
	before := len(parseGaps(string(out)))
	if err := syscall.Kill(p.pid, syscall.SIGUSR1); err != nil {
		return gap{}, fmt.Errorf("pid %d: SIGUSR1: %w", p.pid, err)
	}
	time.Sleep(windowSettle)
	start, err := monotonic()
	if err != nil {
		return gap{}, err
	}
	if err := during(); err != nil {
		return gap{}, err
	}
	if err := syscall.Kill(p.pid, syscall.SIGUSR2); err != nil {
		return gap{}, fmt.Errorf("pid %d: SIGUSR2: %w", p.pid, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(pollEvery) {
		out, err := os.ReadFile(p.stdout)
		if err != nil {
			return gap{}, err
		}
		if gaps := parseGaps(string(out)); len(gaps) > before {
			g := gaps[before]
			g.end -= start
			return g, nil
		}
		if p.exited() || time.Now().After(deadline) {
			return gap{}, fmt.Errorf("pid %d (tick) printed no gap within 10s of SIGUSR2%s", p.pid, p.describe())
		}
	}
}

// monotonic is the time on CLOCK_MONOTONIC, the clock tick's ends are on.
func monotonic() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("clock_gettime: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// parseGaps returns the gaps of the complete "gap MICROSECONDS end
// MICROSECONDS" lines of tick's output, in order; other lines ("ready")
// and a last line not yet ended are not gaps.
func parseGaps(out string) []gap {
	var gaps []gap
	lines := strings.Split(out, "\n")
	for _, l := range lines[:len(lines)-1] {
		var length, end int64
		if n, err := fmt.Sscanf(l, "gap %d end %d", &length, &end); err != nil || n != 2 {
			continue
		}
		gaps = append(gaps, gap{time.Duration(length) * time.Microsecond, time.Duration(end) * time.Microsecond})
	}
	return gaps
}

// noiseGap is the longest gap p sees over a window as long as d, without
// a checkpoint: the machine's own noise.
func noiseGap(p *child, d time.Duration) (time.Duration, error) {
	g, err := longestGap(p, func() error { time.Sleep(d); return nil })
	return g.length, err
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
	var gaps, ends, noise, walls []time.Duration
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
			gaps, ends = append(gaps, gap.length), append(ends, gap.end)
			noise, walls = append(noise, n), append(walls, wall)
		}
	}
	return freezeResult(gaps, ends, noise, walls, freezeTarget1G,
		fmt.Sprintf("%d threads of progs/tick.c, each waking every 1 ms, 1 GiB of random bytes; image in %s (tmpfs)", freezeThreads, r.work)), nil
}

// freezeResult judges the median of gaps, the longest gap the job saw in
// each --run checkpoint (walls; the gap ended ends after it started),
// against target (ms; 0: none), beside noise, the longest over a window as
// long without one.
func freezeResult(gaps, ends, noise, walls []time.Duration, target float64, what string) result {
	return result{
		figures: fmt.Sprintf("longest gap during cr_checkpoint --run %s; without a checkpoint %s", spread(gaps), spread(noise)),
		ratio:   float64(median(gaps)) / float64(time.Millisecond),
		unit:    "ms",
		digits:  1,
		target:  target,
		notes: []string{fmt.Sprintf("the longest time between two wake-ups of the job (clock_nanosleep of 1 ms, so 1 ms is no delay), as it prints it, from %v before cr_checkpoint --run starts until it has exited (%s), and over a window as long without a checkpoint (the machine's noise); medians of %d after a warm-up, with the lowest and highest",
			windowSettle, spread(walls), len(gaps)),
			fmt.Sprintf("the longest gap ended %s after cr_checkpoint started", spread(ends)), what},
		detail: []string{
			fmt.Sprintf("%-22s %s", "gap, checkpoint:", runList(gaps)),
			fmt.Sprintf("%-22s %s", "gap ended:", runList(ends)),
			fmt.Sprintf("%-22s %s", "gap, no checkpoint:", runList(noise)),
			fmt.Sprintf("%-22s %s", "cr_checkpoint --run:", runList(walls)),
		},
	}
}
