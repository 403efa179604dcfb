package main

import (
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// itemKinds are what one process holds many of in the scaling
// benchmarks, with the numbers measured (progs/scale.c); sizes, if set,
// gives them at run time, with a note on why they are what they are.
var itemKinds = []struct {
	kind, item string
	sizes      []int
	limited    func() ([]int, string)
}{
	{"threads", "thread", []int{1, 16, 128, 512}, nil},
	{"maps", "mapping", []int{100, 1000, 10000, 60000}, nil},
	{"fds", "descriptor", nil, fdSizes},
}

const (
	// fdsAsked is the largest number of descriptors issue 16 asks for.
	fdsAsked = 50000
	// fdsMargin is what the largest size leaves below the hard limit on
	// open files: cr_restart's own fds in the restored process sit above
	// the image's.
	fdsMargin = 1000
)

// fdSizes are the numbers of descriptors measured: 10, 1 000 and 50 000,
// or as many as the hard limit on open files allows less a margin, where
// it is lower and cannot be raised (without CAP_SYS_RESOURCE; this machine
// kind's is 20 000), with a note that says so.
func fdSizes() ([]int, string) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return []int{10, 1000}, fmt.Sprintf("%d descriptors asked (issue 16); getrlimit(RLIMIT_NOFILE): %v, so only 1 000 measured", fdsAsked, err)
	}
	want := uint64(fdsAsked + fdsMargin)
	if rl.Max >= want {
		return []int{10, 1000, fdsAsked}, ""
	}
	raised := unix.Rlimit{Cur: rl.Cur, Max: want}
	err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised)
	if err == nil {
		return []int{10, 1000, fdsAsked}, fmt.Sprintf("the hard limit on open files raised from %d to %d for %d descriptors", rl.Max, want, fdsAsked)
	}
	largest := min(fdsAsked, int(rl.Max)-fdsMargin)
	return []int{10, 1000, largest}, fmt.Sprintf("%d descriptors asked (issue 16), %d measured: the hard limit on open files here is %d (ulimit -Hn) and raising it failed (%v: no CAP_SYS_RESOURCE), so the largest size is that limit less %d for cr_restart's own fds",
		fdsAsked, largest, rl.Max, err, fdsMargin)
}

// itemBenchmarks are the scaling of checkpoint and restart with the
// number of threads, mappings and descriptors of one process.
func itemBenchmarks() []benchmark {
	var out []benchmark
	for _, k := range itemKinds {
		s := &itemScale{kind: k.kind, sizes: k.sizes, limited: k.limited}
		s.measuredOnce.measure = s.measure
		item := k.item
		out = append(out,
			benchmark{"scaling: " + item + "s of a process, checkpoint", s.report(func(m *treeMeasurement) result { return m.noted(growth(m.sizes, m.ckpt, item)) })},
			benchmark{"scaling: " + item + "s of a process, restart", s.report(func(m *treeMeasurement) result { return m.noted(growth(m.sizes, m.restart, item)) })})
	}
	return out
}

type itemScale struct {
	measuredOnce[*treeMeasurement]
	kind    string
	sizes   []int
	limited func() ([]int, string)
}

// measure checkpoints with --kill to tmpfs, and restarts, a fresh process
// holding each number of things, a warm-up round and timedRuns rounds
// each.
func (s *itemScale) measure(cfg *config) (*treeMeasurement, error) {
	r, done, err := shmRunner(cfg, "scale")
	if err != nil {
		return nil, err
	}
	defer done()
	sizes, note := s.sizes, ""
	if s.limited != nil {
		sizes, note = s.limited()
	}
	m := &treeMeasurement{sizes: sizes, dir: r.work,
		ckpt: make([][]time.Duration, len(sizes)), restart: make([][]time.Duration, len(sizes))}
	if note != "" {
		m.notes = append(m.notes, note)
	}
	for i, n := range sizes {
		for run := -1; run < timedRuns(cfg); run++ {
			c, rs, err := r.killRestart(func() (*child, []int, error) {
				return r.ready("scale", 1, r.exe, s.kind, strconv.Itoa(n))
			})
			if err != nil {
				return nil, fmt.Errorf("%d %s: %w", n, s.kind, err)
			}
			if run >= 0 {
				m.ckpt[i], m.restart[i] = append(m.ckpt[i], c), append(m.restart[i], rs)
			}
		}
	}
	return m, nil
}
