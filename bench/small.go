package main

import (
	"fmt"
	"path/filepath"
	"time"
)

// smallRestartTarget: cr_restart of a 1 MiB single-threaded program takes
// at most 8 ms from its exec until the program runs again (issue 16).
const smallRestartTarget = 8

// scaleRuns is the most timed runs of the benchmarks of issue 16, each
// after one untimed warm-up: --runs lowers it.
const scaleRuns = 5

// timedRuns is how many timed runs a benchmark of issue 16 makes.
func timedRuns(cfg *config) int { return min(cfg.runs, scaleRuns) }

// smallRestart checkpoints the random program of 1 MiB with --kill to
// tmpfs once, then restarts it (lazy, verified: the default) after a
// warm-up restart, timing each from just before cr_restart is started
// until the program runs untraced as its child (restored, polled every
// pollEvery).
func smallRestart(cfg *config) (result, error) {
	r, done, err := shmRunner(cfg, "fill")
	if err != nil {
		return result{}, err
	}
	defer done()
	work := r.work
	p, err := r.fill("random", 1)
	if err != nil {
		return result{}, err
	}
	img := filepath.Join(work, "small.img")
	if _, _, err := checkpointKill(r, img, p); err != nil {
		return result{}, err
	}
	var ds []time.Duration
	for i := -1; i < timedRuns(cfg); i++ {
		d, err := r.restart(img, p.pid)
		if err != nil {
			return result{}, err
		}
		if i >= 0 {
			ds = append(ds, d)
		}
	}
	lo, hi := minMax(ds)
	return result{
		figures: fmt.Sprintf("cr_restart %s (%s-%s)", ms(median(ds)), ms(lo), ms(hi)),
		ratio:   float64(median(ds)) / float64(time.Millisecond),
		unit:    "ms",
		target:  smallRestartTarget,
		notes: []string{fmt.Sprintf("median of %d after a warm-up; from starting cr_restart IMAGE until the program runs untraced as its child, polled every %v; image in %s (tmpfs)",
			len(ds), pollEvery, work)},
		detail: []string{fmt.Sprintf("%-11s %s", "cr_restart:", runList(ds))},
	}, nil
}

// minMax returns the least and the greatest of ds, which is not empty.
func minMax(ds []time.Duration) (lo, hi time.Duration) {
	lo, hi = ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo, hi
}
