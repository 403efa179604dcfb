package proc

import (
	"math"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadLimitsMatchesPrlimit: every limit of this process read from
// /proc equals what prlimit gives.
func TestReadLimitsMatchesPrlimit(t *testing.T) {
	got, err := ReadLimits(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for res := range 16 {
		var rl unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &rl); err != nil {
			t.Fatal(err)
		}
		if got[res] != (Limit{rl.Cur, rl.Max}) {
			t.Errorf("resource %d: /proc says %+v, prlimit %+v", res, got[res], rl)
		}
	}
}

func TestParseLimitsHostile(t *testing.T) {
	good := "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max cpu time              unlimited            unlimited            seconds   \n"
	rest := []string{"Max file size", "Max data size", "Max stack size", "Max core file size", "Max resident set",
		"Max processes", "Max open files", "Max locked memory", "Max address space", "Max file locks",
		"Max pending signals", "Max msgqueue size", "Max nice priority", "Max realtime priority", "Max realtime timeout"}
	for _, r := range rest {
		good += r + strings.Repeat(" ", 26-len(r)) + "12                   34                   x\n"
	}
	l, err := ParseLimits([]byte(good))
	if err != nil || l[0] != (Limit{math.MaxUint64, math.MaxUint64}) || l[15] != (Limit{12, 34}) {
		t.Fatalf("ParseLimits(good) = %v, %v", l, err)
	}
	for name, bad := range map[string]string{
		"empty":     "",
		"no header": strings.SplitN(good, "\n", 2)[1],
		"missing":   strings.Replace(good, "Max nice priority", "Max nice prio", 1),
		"twice":     good + "Max cpu time              1 2 s\n",
		"number":    strings.Replace(good, "12 ", "1x ", 1),
		"short":     strings.Replace(good, "unlimited            unlimited", "unlimited", 1),
	} {
		if _, err := ParseLimits([]byte(bad)); err == nil {
			t.Errorf("%s: ParseLimits accepted it", name)
		}
	}
}
