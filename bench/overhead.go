package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	// sysloopIterations makes sysloop run for about 0.4 s bare (three
	// system calls per iteration): long enough that process startup is a
	// small part, short enough for many rounds. On a noisy 2-CPU virtual
	// machine, many short paired rounds gave steadier ratios than a few
	// long ones.
	sysloopIterations = 1000000

	// agentOverheadTarget: a program under cr_run takes at most 5% longer.
	agentOverheadTarget = 1.05
)

// agentOverhead measures what running under cr_run costs a program that
// makes many small system calls (progs/sysloop.c): each round runs the
// program bare, under cr_run, and under cr_run with each seccomp filter,
// back to back, and the median of the per-round ratios is judged. The
// wall times include startup. The filters' figures are reported without a
// target: they cost what the kernel's seccomp entry path costs.
func agentOverhead(cfg *config) (result, error) {
	crRun := filepath.Join(cfg.bin, "cr_run")
	if _, err := exec.LookPath(crRun); err != nil {
		return result{}, fmt.Errorf("%w (run make build first)", err)
	}
	dir, err := os.MkdirTemp("", "stasis-bench-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	prog, err := compile(dir, "sysloop")
	if err != nil {
		return result{}, err
	}

	n := strconv.Itoa(sysloopIterations)
	want := fmt.Sprintf("sysloop %d\n", sysloopIterations)
	under := func(opts ...string) func() *exec.Cmd {
		return func() *exec.Cmd { return exec.Command(crRun, append(opts, prog, n)...) }
	}
	sides := []side{
		{"bare", func() *exec.Cmd { return exec.Command(prog, n) }},
		{"cr_run", under()},
		{"cr_run --watch-uncheckpointable", under("--watch-uncheckpointable")},
		{"cr_run --deny-uncheckpointable", under("--deny-uncheckpointable")},
	}
	times, err := alternate(cfg.runs, want, sides...)
	if err != nil {
		return result{}, err
	}
	r := result{
		figures: fmt.Sprintf("bare %s  cr_run %s", ms(median(times[0])), ms(median(times[1]))),
		ratio:   pairedRatio(times[0], times[1]),
		target:  agentOverheadTarget,
	}
	for i, s := range sides {
		r.detail = append(r.detail, fmt.Sprintf("%-32s %s", s.name+":", runList(times[i])))
		if i >= 2 {
			r.notes = append(r.notes, fmt.Sprintf("with %s: %s, ratio %.3f (no target: a seccomp filter costs every system call)",
				strings.TrimPrefix(s.name, "cr_run "), ms(median(times[i])), pairedRatio(times[0], times[i])))
		}
	}
	return r, nil
}
