package restart

import (
	"testing"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

func TestClockOffsets(t *testing.T) {
	if got := behind(image.Timespec{Sec: 10, Nsec: 5}, unix.Timespec{Sec: 9, Nsec: 999999999}); got != 6 {
		t.Errorf("behind: %d, want 6", got)
	}
	if got := behind(image.Timespec{Sec: 9}, unix.Timespec{Sec: 10}); got != 0 {
		t.Errorf("behind, a clock ahead: %d, want 0", got)
	}
	for ns, want := range map[int64]string{
		1500000000:    "1 500000000",
		-1:            "-1 999999999",
		1000000 * 1e9: "1000000 0",
		-2500000000:   "-3 500000000",
	} {
		if got := offset(ns); got != want {
			t.Errorf("offset(%d) = %q, want %q", ns, got, want)
		}
	}
}
