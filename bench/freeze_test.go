package main

import (
	"slices"
	"testing"
	"time"
)

func TestParseGaps(t *testing.T) {
	us := time.Microsecond
	for _, tc := range []struct {
		out  string
		want []gap
	}{
		{"", nil},
		{"ready\n", nil},
		{"ready\ngap 1042 end 5000\n", []gap{{1042 * us, 5000 * us}}},
		{"ready\ngap 1042 end 5000\ngap 19876 end 90000\n", []gap{{1042 * us, 5000 * us}, {19876 * us, 90000 * us}}},
		// A line still being written is not a gap yet.
		{"ready\ngap 1042 end 5000\ngap 19876 en", []gap{{1042 * us, 5000 * us}}},
		{"ready\ngap x end 1\ngap 7 end 9\n", []gap{{7 * us, 9 * us}}},
	} {
		if got := parseGaps(tc.out); !slices.Equal(got, tc.want) {
			t.Errorf("parseGaps(%q) = %v, want %v", tc.out, got, tc.want)
		}
	}
}

func TestFreezeTarget(t *testing.T) {
	for mib, want := range map[int]float64{256: 0, 1024: 10, 4096: 25} {
		if got := freezeTarget(mib); got != want {
			t.Errorf("freezeTarget(%d) = %v, want %v", mib, got, want)
		}
	}
}

func TestFreezeResult(t *testing.T) {
	ms := time.Millisecond
	r := freezeResult([]time.Duration{12 * ms, 9 * ms, 30 * ms}, []time.Duration{40 * ms, 30 * ms, 35 * ms}, []time.Duration{2 * ms, 1 * ms, 3 * ms},
		[]time.Duration{400 * ms, 380 * ms, 420 * ms}, 10, "what")
	want := "f: longest gap during cr_checkpoint --run 12ms (9-30ms); without a checkpoint 2ms (1-3ms)  12.0 ms (target <= 10 ms) FAIL"
	if got := r.line("f"); got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
}
