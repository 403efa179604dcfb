package main

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{5 * ms}, 5 * ms},
		{[]time.Duration{9 * ms, 1 * ms, 5 * ms}, 5 * ms},
		{[]time.Duration{4 * ms, 1 * ms, 2 * ms, 100 * ms}, 3 * ms},
	} {
		in := append([]time.Duration(nil), tc.in...)
		if got := median(in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("median reordered its argument: %v", in)
			}
		}
	}
}

func TestResultLine(t *testing.T) {
	r := result{
		figures: "bare " + ms(812*time.Millisecond+400*time.Microsecond) + "  cr_run " + ms(1240*time.Millisecond),
		ratio:   1.0101,
		target:  1.05,
	}
	want := "agent overhead: bare 812ms  cr_run 1240ms  ratio 1.010 (target <= 1.05) ok"
	if got := r.line("agent overhead"); got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
	r.ratio = 1.051
	if r.ok() {
		t.Errorf("ratio %v passed target %v", r.ratio, r.target)
	}
	want = "agent overhead: bare 812ms  cr_run 1240ms  ratio 1.051 (target <= 1.05) FAIL"
	if got := r.line("agent overhead"); got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
}

func TestResultComparisons(t *testing.T) {
	for _, tc := range []struct {
		r    result
		want string
		ok   bool
	}{
		{result{figures: "dd 1.20s  cr_checkpoint 1.50s", ratio: 0.8, target: 0.8, cmp: atLeast},
			"c: dd 1.20s  cr_checkpoint 1.50s  ratio 0.800 (target >= 0.80) ok", true},
		{result{figures: "dd 1.20s  cr_checkpoint 2.00s", ratio: 0.6, target: 0.8, cmp: atLeast},
			"c: dd 1.20s  cr_checkpoint 2.00s  ratio 0.600 (target >= 0.80) FAIL", false},
		{result{figures: "f", ratio: 1450.4, unit: "ms/GiB", target: 50, cmp: below},
			"c: f  1450 ms/GiB (target < 50 ms/GiB) FAIL", false},
		{result{figures: "f", ratio: 50, unit: "ms/GiB", target: 50, cmp: below},
			"c: f  50 ms/GiB (target < 50 ms/GiB) FAIL", false},
		{result{figures: "f", ratio: 12.2, unit: "ms/GiB", target: 50, cmp: below},
			"c: f  12 ms/GiB (target < 50 ms/GiB) ok", true},
		{result{figures: "image 1.0 MiB  RSS 256.0 MiB", ratio: 0.0041, target: 0.05, cmp: below},
			"c: image 1.0 MiB  RSS 256.0 MiB  ratio 0.004 (target < 0.05) ok", true},
		{result{figures: "cr_restart 0.42s", ratio: 420, unit: "ms/GiB"},
			"c: cr_restart 0.42s  420 ms/GiB (no target)", true},
		{result{figures: "x", ratio: 7}, "c: x  ratio 7.000 (no target)", true},
		{result{skipped: "needs more memory", target: 1}, "c: skipped (needs more memory)", true},
	} {
		if got := tc.r.line("c"); got != tc.want {
			t.Errorf("line = %q, want %q", got, tc.want)
		}
		if got := tc.r.ok(); got != tc.ok {
			t.Errorf("%q: ok = %v, want %v", tc.want, got, tc.ok)
		}
	}
}

func TestResultDigits(t *testing.T) {
	r := result{figures: "f", ratio: 10.04, unit: "ms", digits: 1, target: 10}
	if want := "c: f  10.0 ms (target <= 10 ms) FAIL"; r.line("c") != want {
		t.Errorf("line = %q, want %q", r.line("c"), want)
	}
	r.ratio = 9.96
	if want := "c: f  10.0 ms (target <= 10 ms) ok"; r.line("c") != want {
		t.Errorf("line = %q, want %q", r.line("c"), want)
	}
}

func TestRatioSpread(t *testing.T) {
	s := time.Second
	// Rounds where b took 0.5, 2 and 1 times as long as a, and a fourth
	// 0.8 times: the median of the per-round ratios, not of the times.
	a := []time.Duration{2 * s, 1 * s, 4 * s}
	b := []time.Duration{1 * s, 2 * s, 4 * s}
	if med, lo, hi := ratioSpread(a, b); med != 1 || lo != 0.5 || hi != 2 {
		t.Errorf("ratioSpread = %v %v %v, want 1 0.5 2", med, lo, hi)
	}
	a, b = append(a, 10*s), append(b, 8*s)
	if med, lo, hi := ratioSpread(a, b); med != 0.9 || lo != 0.5 || hi != 2 {
		t.Errorf("ratioSpread = %v %v %v, want 0.9 0.5 2", med, lo, hi)
	}
	if got := pairedRatio(a, b); got != 0.9 {
		t.Errorf("pairedRatio = %v, want 0.9", got)
	}
}

func TestSpread(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		in   []time.Duration
		want string
	}{
		{[]time.Duration{12 * ms, 9 * ms, 15 * ms}, "12ms (9-15ms)"},
		{[]time.Duration{1200 * ms, 1150 * ms, 1310 * ms}, "1.20s (1.15-1.31s)"},
		{[]time.Duration{1200 * ms, 900 * ms, 1310 * ms}, "1.20s (0.90-1.31s)"},
	} {
		if got := spread(tc.in); got != tc.want {
			t.Errorf("spread(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
