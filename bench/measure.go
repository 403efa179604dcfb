package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// A side is one way of running the same work: a name, and a function that
// returns a fresh command for each run.
type side struct {
	name string
	cmd  func() *exec.Cmd
}

// alternate runs the sides in turn, a, b, a, b, ..., runs times each, after
// one untimed warm-up run of each, and returns the wall time of every timed
// run, by side. Taking turns spreads changes in the machine's load and clock
// speed over both sides instead of letting them fall on one. Every run must
// exit with status 0 and print exactly want on stdout: a side that does not
// really run the work must not look fast.
func alternate(runs int, want string, sides ...side) ([][]time.Duration, error) {
	times := make([][]time.Duration, len(sides))
	for i := -1; i < runs; i++ {
		for s, sd := range sides {
			d, err := timeRun(sd.cmd(), want)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sd.name, err)
			}
			if i >= 0 {
				times[s] = append(times[s], d)
			}
		}
	}
	return times, nil
}

// timeRun runs cmd and returns its wall time from just before it is started
// to just after it has been waited for, so process creation, exec and exit
// are included.
func timeRun(cmd *exec.Cmd, want string) (time.Duration, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w%s", strings.Join(cmd.Args, " "), err, quoteOutput(stderr.Bytes()))
	}
	if got := stdout.String(); got != want {
		return 0, fmt.Errorf("%s: printed %q, want %q", strings.Join(cmd.Args, " "), got, want)
	}
	return d, nil
}

// median returns the middle of ds, or the mean of the two middle values
// when there is an even number of them. ds must not be empty; it is not
// modified.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// pairedRatio is the median over rounds of b[i]/a[i]: the runs of one
// round ran back to back, so a change in the machine's speed between
// rounds cancels out, which the ratio of two medians does not do.
func pairedRatio(a, b []time.Duration) float64 {
	med, _, _ := ratioSpread(a, b)
	return med
}

// ratioSpread is pairedRatio's median of the per-round ratios b[i]/a[i],
// and the lowest and the highest of them.
func ratioSpread(a, b []time.Duration) (med, lo, hi float64) {
	rs := make([]float64, len(a))
	for i := range a {
		rs[i] = float64(b[i]) / float64(a[i])
	}
	slices.Sort(rs)
	n := len(rs)
	med = rs[n/2]
	if n%2 == 0 {
		med = (rs[n/2-1] + rs[n/2]) / 2
	}
	return med, rs[0], rs[n-1]
}

// spread formats the median of ds and its range, "1.20s (1.15-1.31s)",
// in seconds, or "12ms (9-15ms)" in milliseconds below a second.
func spread(ds []time.Duration) string {
	lo, hi := minMax(ds)
	m := median(ds)
	if m < time.Second {
		return fmt.Sprintf("%s (%d-%s)", ms(m), lo.Round(time.Millisecond).Milliseconds(), ms(hi))
	}
	return fmt.Sprintf("%s (%.2f-%s)", secs(m), lo.Seconds(), secs(hi))
}

// runList formats the times of every run, "812 815 809ms", for --verbose.
func runList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprint(d.Round(time.Millisecond).Milliseconds())
	}
	return strings.Join(parts, " ") + "ms"
}

// quoteOutput is ": " and the trimmed output, or nothing if there is none.
func quoteOutput(out []byte) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return ""
	}
	return ": " + s
}
