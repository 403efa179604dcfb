package main

import (
	"fmt"
	"time"
)

// A benchmark measures stasis side by side with a reference (the bare
// program, CRIU, ...) in the same run, and judges the ratio of the two.
type benchmark struct {
	name string
	run  func(*config) (result, error)
}

// config is what every benchmark is given.
type config struct {
	bin  string // the directory of cr_run, cr_checkpoint, cr_restart
	runs int    // timed runs of each side
}

// A result is a figure, by default a ratio of stasis over the reference
// where lower is better, the target it is judged against, and the figures
// it was computed from.
type result struct {
	figures string     // e.g. "bare 812ms  cr_run 820ms"
	ratio   float64    // the judged figure: stasis / reference, or in unit
	unit    string     // what ratio is in, e.g. "ms/GiB"; "" for a plain ratio
	digits  int        // decimals of ratio when in a unit (0: whole units)
	target  float64    // what ratio is judged against; 0 or less: no target, no verdict
	cmp     comparison // how ratio must compare to target to pass
	skipped string     // if not "": why nothing was measured (no verdict)
	notes   []string   // further figures, always printed
	detail  []string   // every run, for --verbose
	curve   *curve     // a scaling benchmark's cost per item, for --plot
}

// A comparison says which side of its target a figure must be on.
type comparison int

const (
	atMost  comparison = iota // ratio <= target: lower is better (the default)
	below                     // ratio < target: lower is better
	atLeast                   // ratio >= target: higher is better
)

func (c comparison) String() string {
	switch c {
	case below:
		return "<"
	case atLeast:
		return ">="
	}
	return "<="
}

// informational reports whether r has no verdict: it was skipped, or it
// has no target.
func (r result) informational() bool { return r.skipped != "" || r.target <= 0 }

func (r result) ok() bool {
	switch {
	case r.informational():
		return true
	case r.cmp == below:
		return r.ratio < r.target
	case r.cmp == atLeast:
		return r.ratio >= r.target
	}
	return r.ratio <= r.target
}

// line is the report for benchmark name:
// "agent overhead: bare 812ms  cr_run 820ms  ratio 1.010 (target <= 1.05) ok",
// "frozen 1 GiB: ...  1450 ms/GiB (target < 50 ms/GiB) FAIL",
// "restart 1 GiB: ...  420 ms/GiB (no target)" or
// "checkpoint 4 GiB: skipped (needs more memory)".
func (r result) line(name string) string {
	if r.skipped != "" {
		return fmt.Sprintf("%s: skipped (%s)", name, r.skipped)
	}
	value, target := fmt.Sprintf("ratio %.3f", r.ratio), fmt.Sprintf("%.2f", r.target)
	if r.unit != "" {
		value, target = fmt.Sprintf("%.*f %s", r.digits, r.ratio, r.unit), fmt.Sprintf("%g %s", r.target, r.unit)
	}
	if r.informational() {
		return fmt.Sprintf("%s: %s  %s (no target)", name, r.figures, value)
	}
	verdict := "ok"
	if !r.ok() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s: %s  %s (target %s %s) %s", name, r.figures, value, r.cmp, target, verdict)
}

// ms formats d as whole milliseconds, "812ms" or "1240ms", so that figures
// of different sizes read alike.
func ms(d time.Duration) string {
	return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds())
}

// secs formats d as seconds with two decimals, "1.20s", for figures of a
// second or more.
func secs(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}
