package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"stasis/internal/proc"
)

const (
	// treeMiB is the private memory of each process of a tree.
	treeMiB = 4

	// treeCheckpointTarget, treeRestartTarget: a tree of 100 processes of
	// 4 MiB each is checkpointed in at most 0.35 s and restarted in at
	// most 0.2 s (issue 16; CRIU 4.2 took 0.67 s and 0.36 s there).
	treeCheckpointTarget = 350 // ms
	treeRestartTarget    = 200 // ms
	treeTargetSize       = 100

	// linearGrowth: a cost per item that grows by more than this factor
	// is worse than linear.
	linearGrowth = 2
)

// treeSizes are the numbers of processes of the trees measured.
var treeSizes = []int{1, 10, 100, 500}

// treeBenchmarks are the scaling of checkpoint and restart with the
// number of processes, and the targets for a tree of 100.
func treeBenchmarks() []benchmark {
	t := &treeScale{}
	t.measuredOnce.measure = t.measure
	return []benchmark{
		{"scaling: tree of processes, checkpoint", t.report(func(m *treeMeasurement) result { return growth(m.sizes, m.ckpt, "process") })},
		{"scaling: tree of processes, restart", t.report(func(m *treeMeasurement) result { return growth(m.sizes, m.restart, "process") })},
		{"tree of 100 x 4 MiB, checkpoint", t.report(func(m *treeMeasurement) result {
			return treeTarget(m, m.ckpt, treeCheckpointTarget, "cr_checkpoint --kill", "CRIU 4.2 dumped this tree in 0.67 s on this machine kind (issue 16)")
		})},
		{"tree of 100 x 4 MiB, restart", t.report(func(m *treeMeasurement) result {
			return treeTarget(m, m.restart, treeRestartTarget, "cr_restart", "CRIU 4.2 restored this tree in 0.36 s on this machine kind (issue 16)")
		})},
	}
}

type treeScale struct {
	measuredOnce[*treeMeasurement]
}

// treeMeasurement: the times of each size, by size.
type treeMeasurement struct {
	sizes         []int
	ckpt, restart [][]time.Duration
	dir           string
	notes         []string // on the sizes measured
}

func (m *treeMeasurement) skip() string { return "" }

// noted is r with m's notes.
func (m *treeMeasurement) noted(r result) result {
	r.notes = append(r.notes, m.notes...)
	return r
}

// measure checkpoints with --kill to tmpfs, and restarts, a fresh tree of
// each size, a warm-up round and timedRuns rounds each.
func (t *treeScale) measure(cfg *config) (*treeMeasurement, error) {
	r, done, err := shmRunner(cfg, "tree")
	if err != nil {
		return nil, err
	}
	defer done()
	m := &treeMeasurement{sizes: treeSizes, dir: r.work,
		ckpt: make([][]time.Duration, len(treeSizes)), restart: make([][]time.Duration, len(treeSizes))}
	for s, n := range treeSizes {
		for i := -1; i < timedRuns(cfg); i++ {
			c, rs, err := r.treeRound(n)
			if err != nil {
				return nil, fmt.Errorf("tree of %d: %w", n, err)
			}
			if i >= 0 {
				m.ckpt[s], m.restart[s] = append(m.ckpt[s], c), append(m.restart[s], rs)
			}
		}
	}
	return m, nil
}

// treeRound starts a tree of n, checkpoints it with --kill, waits until
// every one of its pids is free again (orphans are reaped by pid 1, late),
// restarts it and waits until every process runs (treeRestored), then
// kills them and waits until the pids are free again.
func (r *runner) treeRound(n int) (ckpt, restart time.Duration, err error) {
	return r.killRestart(func() (*child, []int, error) { return r.tree(n) })
}

// killRestart is treeRound's checkpoint and restart of the processes start
// starts and returns, with every pid of them, the root's first.
func (r *runner) killRestart(start func() (*child, []int, error)) (ckpt, restart time.Duration, err error) {
	p, pids, err := start()
	if err != nil {
		return 0, 0, err
	}
	img := filepath.Join(r.work, "tree.img")
	if ckpt, _, err = checkpointKill(r, img, p); err != nil {
		return 0, 0, err
	}
	defer os.Remove(img)
	if err := pidsFree(pids); err != nil {
		return 0, 0, err
	}
	began := time.Now()
	c, err := r.start(r.cmd("cr_restart", img), "cr_restart")
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		killTree(pids, c.pid)
		c.kill()
		if e := pidsFree(pids); err == nil {
			err = e
		}
	}()
	next := 0 // pids[:next] run restored
	for deadline := began.Add(cmdTimeout); ; time.Sleep(pollEvery) {
		for next < len(pids) && treeRestored(pids, next, c.pid, r.bin) {
			next++
		}
		if next == len(pids) {
			return ckpt, time.Since(began), nil
		}
		if c.exited() {
			return 0, 0, fmt.Errorf("cr_restart ended with %d of %d processes restored%s", next, len(pids), c.describe())
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("cr_restart restored %d of %d processes in %v", next, len(pids), cmdTimeout)
		}
	}
}

// treeRestored reports whether pids[i] runs restored: the root
// (pids[0]) as cr_restart's child, the others as the root's (restored).
// Once a process runs restored it stays so, so the caller asks about each
// only until it does.
func treeRestored(pids []int, i, crRestart int, bin string) bool {
	parent := crRestart
	if i > 0 {
		parent = pids[0]
	}
	return restored(pids[i], parent, bin)
}

// killTree kills the restored processes of pids: the root if it is
// cr_restart's child, the others if they are the root's.
func killTree(pids []int, crRestart int) {
	for i, pid := range pids {
		parent := crRestart
		if i > 0 {
			parent = pids[0]
		}
		if st, err := proc.ReadStat(pid); err == nil && st.PPid == parent {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// pidsFree waits until no process has any of pids, not even a zombie.
func pidsFree(pids []int) error {
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		left := 0
		for _, pid := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pids still taken 20s after their processes were killed", left, len(pids))
		}
	}
}

// tree starts progs/tree.c with n processes and returns it and every pid
// of the tree, the root's first, once it is ready.
func (r *runner) tree(n int) (*child, []int, error) {
	return r.ready("tree", n, r.exe, strconv.Itoa(n), strconv.Itoa(treeMiB))
}

// ready starts argv, which prints the pids of the n-1 processes it
// forks, then "ready", and returns it and every pid, its own first.
func (r *runner) ready(name string, n int, argv ...string) (*child, []int, error) {
	p, err := r.start(exec.Command(argv[0], argv[1:]...), name)
	if err != nil {
		return nil, nil, err
	}
	for deadline := time.Now().Add(cmdTimeout); ; time.Sleep(5 * time.Millisecond) {
		out, err := os.ReadFile(p.stdout)
		if err != nil {
			return nil, nil, err
		}
		if s, ok := strings.CutSuffix(string(out), "ready\n"); ok {
			pids := []int{p.pid}
			for _, f := range strings.Fields(s) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					return nil, nil, fmt.Errorf("%s printed %q", name, out)
				}
				pids = append(pids, pid)
			}
			if len(pids) != n {
				return nil, nil, fmt.Errorf("%s %d printed %d pids", name, n, len(pids)-1)
			}
			return p, pids, nil
		}
		if p.exited() || time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("%s %d not ready%s", name, n, p.describe())
		}
	}
}

// shmRunner compiles progs/prog.c into a new directory of /dev/shm (a
// tmpfs, so that images are written to memory, not to a disk), and
// returns a runner there and a function that kills what it started and
// removes the directory.
func shmRunner(cfg *config, prog string) (*runner, func(), error) {
	work, err := os.MkdirTemp("/dev/shm", "stasis-bench-")
	if err != nil {
		return nil, nil, err
	}
	exe, err := compile(work, prog)
	if err != nil {
		os.RemoveAll(work)
		return nil, nil, err
	}
	r := &runner{bin: cfg.bin, work: work, exe: exe}
	return r, func() { r.cleanup(); os.RemoveAll(work) }, nil
}

// The reports.

// growth reports the time per item at each size, and judges how the cost
// of one more item grows: the fixed cost is taken to be the time at the
// smallest size n0, and the cost per item at size n is (t(n)-t(n0))/(n-n0);
// growth is that cost at the largest size over that at the size before. A
// linear cost gives about 1, a quadratic one the ratio of the two sizes
// (5 from 100 to 500). If the cost at the size before is within the noise
// (not above that of n0), the ratio of t(n)/n at the largest and smallest
// sizes is judged instead.
func growth(sizes []int, times [][]time.Duration, item string) result {
	med, perItem := make([]float64, len(sizes)), make([]float64, len(sizes))
	var figs, detail []string
	for i, n := range sizes {
		med[i] = float64(median(times[i])) / float64(time.Millisecond)
		perItem[i] = med[i] / float64(n)
		lo, hi := minMax(times[i])
		figs = append(figs, fmt.Sprintf("%d: %s (%s-%s), %.3g ms/%s", n, ms(median(times[i])), ms(lo), ms(hi), perItem[i], item))
		detail = append(detail, fmt.Sprintf("%6d: %s", n, runList(times[i])))
	}
	last, prev := len(sizes)-1, len(sizes)-2
	marginal := func(i int) float64 { return (med[i] - med[0]) / float64(sizes[i]-sizes[0]) }
	g, how := 0.0, ""
	if marginal(prev) > 0 && marginal(last) > 0 {
		g = marginal(last) / marginal(prev)
		how = fmt.Sprintf("cost of one more %s above the %d-%s time: %.3g ms at %d, %.3g ms at %d",
			item, sizes[0], item, marginal(prev), sizes[prev], marginal(last), sizes[last])
	} else {
		g = (med[last] / float64(sizes[last])) / (med[0] / float64(sizes[0]))
		how = fmt.Sprintf("the cost per %s above the fixed cost is within the noise at %d: time per %s at %d over that at %d",
			item, sizes[prev], item, sizes[last], sizes[0])
	}
	verdict := "linear"
	if g > linearGrowth {
		verdict = "worse than linear"
	}
	return result{
		figures: strings.Join(figs, "; ") + "; growth " + verdict,
		ratio:   g,
		target:  linearGrowth,
		notes: []string{"growth: " + how,
			fmt.Sprintf("medians of %d after a warm-up, with the lowest and highest", len(times[0]))},
		detail: detail,
		curve:  &curve{item: item, sizes: sizes, perItem: perItem},
	}
}

// treeTarget judges the median time for the tree of treeTargetSize.
func treeTarget(m *treeMeasurement, times [][]time.Duration, target float64, what, criu string) result {
	for i, n := range m.sizes {
		if n != treeTargetSize {
			continue
		}
		lo, hi := minMax(times[i])
		return result{
			figures: fmt.Sprintf("%s %s (%s-%s)", what, secs(median(times[i])), secs(lo), secs(hi)),
			ratio:   float64(median(times[i])) / float64(time.Millisecond),
			unit:    "ms",
			target:  target,
			notes: []string{criu, fmt.Sprintf("%d processes of %d MiB of random bytes each (progs/tree.c), --kill, image in %s (tmpfs); a restart is timed from starting cr_restart until /proc shows every pid back, untraced, a child of cr_restart (the root) or of the root, and no longer running cr_restart's code",
				treeTargetSize, treeMiB, m.dir)},
		}
	}
	return result{skipped: fmt.Sprintf("no tree of %d measured", treeTargetSize)}
}
