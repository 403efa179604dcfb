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
