package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// lazyTarget: cr_restart --unverified of an image in a file maps its
	// pages instead of copying or reading them, so restarting the random
	// program takes at most 10 ms of wall time whatever its size (issue
	// 16 sets it for 4 GiB; a smaller image has less to map).
	lazyTarget = 10

	// verifiedTarget: a default lazy restart reads the image once, to
	// check every page's checksum before the program runs: at least 80%
	// as fast as dd reads the same file (dd's time over cr_restart's).
	verifiedTarget = 0.80

	// eagerCachedTarget, eagerColdTarget: cr_restart --no-lazy reads the
	// image at least half as fast as dd reads the same file from the page
	// cache, and at least 90% as fast from a file not in the page cache
	// (dd's time over cr_restart's; issue 16).
	eagerCachedTarget = 0.5
	eagerColdTarget   = 0.9
)

// restartBenchmarks are the benchmarks of cr_restart on the random
// program of progs/fill.c, for each size: lazy (the default, which checks
// every page's checksum first) against dd reading the image, lazy with
// --unverified against the start-up of the program run fresh, and
// --no-lazy against dd, from the page cache and from the disk.
func restartBenchmarks() []benchmark {
	var bs []benchmark
	for _, mib := range checkpointSizes {
		f := newRestartSize(mib)
		s := sizeName(mib)
		bs = append(bs,
			benchmark{"restart " + s + " lazy (verified), image cached", f.report(lazyVerified)},
			benchmark{"restart " + s + " lazy --unverified", f.report(lazyRestart)},
			benchmark{"restart " + s + " eager, image cached", f.report(eagerCached)},
			benchmark{"restart " + s + " eager, image not cached", f.report(eagerCold)},
		)
	}
	return bs
}

// restartSize measures one size once, for all of its benchmarks.
type restartSize struct {
	mib int
	measuredOnce[*restartMeasurement]
}

func newRestartSize(mib int) *restartSize {
	f := &restartSize{mib: mib}
	f.measuredOnce.measure = f.measure
	return f
}

func (m *restartMeasurement) skip() string { return m.skipped }

// restartMeasurement is every figure of one size.
type restartMeasurement struct {
	mib     int
	skipped string
	dir     string
	image   int64 // bytes

	fresh, small []time.Duration // fill random MIB, and fill random 1, until ready
	smallRestart []time.Duration // cr_restart of fill random 1
	lazy         []time.Duration // cr_restart IMAGE until the program runs
	unverified   []time.Duration // cr_restart --unverified IMAGE
	eager, dd    []time.Duration // cr_restart --no-lazy, dd of the image: cached
	eagerCold    []time.Duration // the same after the image was dropped from the page cache
	ddCold       []time.Duration
}

// measure starts the random program once (the fresh start), checkpoints it
// to the disk, then restarts it each way in a warm-up round and timedRuns
// rounds.
func (f *restartSize) measure(cfg *config) (*restartMeasurement, error) {
	m := &restartMeasurement{mib: f.mib}
	size := int64(f.mib) << 20
	var err error
	if m.skipped, err = tooBig(f.mib); err != nil || m.skipped != "" {
		return m, err
	}
	root, err := diskRoot()
	if err != nil {
		return nil, err
	}
	if free, _, err := fsFree(root); err != nil {
		return nil, err
	} else if need := size + 512<<20; free < need {
		m.skipped = fmt.Sprintf("needs %s free in %s, there is %s", gib(need), root, gib(free))
		return m, nil
	}
	work, err := os.MkdirTemp(root, "stasis-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	m.dir = work
	exe, err := compile(work, "fill")
	if err != nil {
		return nil, err
	}
	r := &runner{bin: cfg.bin, work: work, exe: exe}
	defer r.cleanup()

	// The small program: started fresh, and restarted lazily.
	var small *child
	for i := 0; i < timedRuns(cfg); i++ {
		if small != nil {
			small.kill()
		}
		var d time.Duration
		if small, d, err = r.freshFill(1); err != nil {
			return nil, err
		}
		m.small = append(m.small, d)
	}
	smallImg := filepath.Join(work, "small.img")
	if _, _, err = checkpointKill(r, smallImg, small); err != nil {
		return nil, err
	}
	for i := 0; i < timedRuns(cfg); i++ {
		d, err := r.restart(smallImg, small.pid, "--unverified")
		if err != nil {
			return nil, err
		}
		m.smallRestart = append(m.smallRestart, d)
	}

	p, d, err := r.freshFill(f.mib)
	if err != nil {
		return nil, err
	}
	m.fresh = append(m.fresh, d)
	img := filepath.Join(work, "img")
	if _, m.image, err = checkpointKill(r, img, p); err != nil {
		return nil, err
	}
	for i := -1; i < timedRuns(cfg); i++ {
		into := m
		if i < 0 {
			into = &restartMeasurement{} // the warm-up's figures are dropped
		}
		if err := r.restartRound(into, img, p.pid); err != nil {
			return nil, fmt.Errorf("%s: %w", sizeName(f.mib), err)
		}
	}
	return m, nil
}

// freshFill starts the random program of mib MiB and returns it and the
// time until it is ready, polled every pollEvery.
func (r *runner) freshFill(mib int) (*child, time.Duration, error) {
	start := time.Now()
	p, err := r.start(exec.Command(r.exe, "random", strconv.Itoa(mib)), "fill")
	if err != nil {
		return nil, 0, err
	}
	for deadline := start.Add(cmdTimeout); ; time.Sleep(pollEvery) {
		if out, err := os.ReadFile(p.stdout); err != nil {
			return nil, 0, err
		} else if string(out) == "ready\n" {
			return p, time.Since(start), nil
		}
		if p.exited() || time.Now().After(deadline) {
			return nil, 0, fmt.Errorf("fill random %d not ready%s", mib, p.describe())
		}
	}
}

// restartRound restarts img lazily, unverified and verified, then with
// --no-lazy next to dd, with the image in the page cache and then dropped
// from it before each.
func (r *runner) restartRound(m *restartMeasurement, img string, pid int) error {
	d, err := r.restart(img, pid, "--unverified")
	if err != nil {
		return err
	}
	m.unverified = append(m.unverified, d)
	if d, err = r.restart(img, pid); err != nil {
		return err
	}
	m.lazy = append(m.lazy, d)
	for _, cold := range []bool{false, true} {
		var dd, eager time.Duration
		if cold {
			if err := dropCache(img); err != nil {
				return err
			}
		}
		if dd, err = run(exec.Command("dd", "if="+img, "of=/dev/null", "bs=1M", "status=none")); err != nil {
			return err
		}
		if cold {
			if err := dropCache(img); err != nil {
				return err
			}
		}
		if eager, err = r.restart(img, pid, "--no-lazy"); err != nil {
			return err
		}
		if cold {
			m.ddCold, m.eagerCold = append(m.ddCold, dd), append(m.eagerCold, eager)
		} else {
			m.dd, m.eager = append(m.dd, dd), append(m.eager, eager)
		}
	}
	return nil
}

// dropCache drops the clean pages of path from the page cache (and of
// nothing else: the machine may be shared).
func dropCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("%s: posix_fadvise: %w", path, err)
	}
	return nil
}

// The reports.

func lazyRestart(m *restartMeasurement) result {
	lazy := median(m.unverified)
	return result{
		figures: fmt.Sprintf("fill 1 MiB: fresh start %s, cr_restart %s; fill %s: fresh start %s, cr_restart --unverified %s",
			ms(median(m.small)), ms(median(m.smallRestart)), sizeName(m.mib), secs(median(m.fresh)), spread(m.unverified)),
		ratio:  float64(lazy) / float64(time.Millisecond),
		unit:   "ms",
		digits: 1,
		target: lazyTarget,
		notes: []string{fmt.Sprintf("the lazy restart that reads nothing first: cr_restart --unverified IMAGE (pages mapped from it, checksums not checked) until the program runs untraced as its child, polled every %v; median of %d after a warm-up; image %s in %s",
			pollEvery, len(m.unverified), mibs(m.image), m.dir)},
		detail: []string{
			fmt.Sprintf("%-21s %s", "fresh 1 MiB:", runList(m.small)),
			fmt.Sprintf("%-21s %s", "cr_restart of 1 MiB:", runList(m.smallRestart)),
			fmt.Sprintf("%-21s %s", "cr_restart:", runList(m.unverified)),
		},
	}
}

func lazyVerified(m *restartMeasurement) result {
	rate := func(d time.Duration) float64 { return float64(m.image) / (1 << 20) / d.Seconds() }
	ratio, lo, hi := ratioSpread(m.lazy, m.dd)
	return result{
		figures: fmt.Sprintf("dd %s  cr_restart %s", spread(m.dd), spread(m.lazy)),
		ratio:   ratio,
		target:  verifiedTarget,
		cmp:     atLeast,
		notes: []string{fmt.Sprintf("cr_restart IMAGE (pages mapped from it, every checksum checked first) until the program runs, %.0f MiB/s; dd bs=1M to /dev/null %.0f MiB/s; image %s in the page cache; ratio: dd's time over cr_restart's, the median of %d rounds after a warm-up (%.3f-%.3f)",
			rate(median(m.lazy)), rate(median(m.dd)), mibs(m.image), len(m.lazy), lo, hi)},
		detail: []string{
			fmt.Sprintf("%-12s %s", "dd:", runList(m.dd)),
			fmt.Sprintf("%-12s %s", "cr_restart:", runList(m.lazy)),
		},
	}
}

func eagerCached(m *restartMeasurement) result {
	return eager(m, m.dd, m.eager, eagerCachedTarget, "in the page cache")
}
func eagerCold(m *restartMeasurement) result {
	return eager(m, m.ddCold, m.eagerCold, eagerColdTarget, "dropped from the page cache before each (posix_fadvise DONTNEED)")
}

func eager(m *restartMeasurement, dd, eager []time.Duration, target float64, where string) result {
	rate := func(d time.Duration) float64 { return float64(m.image) / (1 << 20) / d.Seconds() }
	ratio, lo, hi := ratioSpread(eager, dd)
	return result{
		figures: fmt.Sprintf("dd %s  cr_restart --no-lazy %s", spread(dd), spread(eager)),
		ratio:   ratio,
		target:  target,
		cmp:     atLeast,
		notes: []string{fmt.Sprintf("cr_restart --no-lazy %.0f MiB/s, dd bs=1M to /dev/null %.0f MiB/s; image %s %s; ratio: dd's time over cr_restart's, the median of %d rounds after a warm-up (%.3f-%.3f)",
			rate(median(eager)), rate(median(dd)), mibs(m.image), where, len(eager), lo, hi)},
		detail: []string{
			fmt.Sprintf("%-12s %s", "dd:", runList(dd)),
			fmt.Sprintf("%-12s %s", "cr_restart:", runList(eager)),
		},
	}
}
