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

// A result is a ratio, stasis over the reference, where lower is better,
// and the figures it was computed from.
type result struct {
	figures string   // e.g. "bare 812ms  cr_run 820ms"
	ratio   float64  // stasis / reference
	target  float64  // the ratio passes if it is at most this
	notes   []string // further figures, always printed
	detail  []string // every run, for --verbose
}

func (r result) ok() bool { return r.ratio <= r.target }

// line is the report for benchmark name:
// "agent overhead: bare 812ms  cr_run 820ms  ratio 1.010 (target <= 1.05) ok".
func (r result) line(name string) string {
	verdict := "ok"
	if !r.ok() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s: %s  ratio %.3f (target <= %.2f) %s", name, r.figures, r.ratio, r.target, verdict)
}

// ms formats d as whole milliseconds, "812ms" or "1240ms", so that figures
// of different sizes read alike.
func ms(d time.Duration) string {
	return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds())
}
