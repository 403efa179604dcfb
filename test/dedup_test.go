package e2e

// Page deduplication: the pages forked processes still share are stored
// once in the image, and the restored processes still compute the same
// answer from them.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDedupForkedWorkers: a parent fills 64 MiB and forks four workers
// that only read it. The image must be much smaller than the processes'
// resident memory added up (the region is stored once, not five times),
// and after a restart (from a stream) each worker checksums the region
// again and the parent finds every sum equal to its own. With --kill the
// pages are read from the frozen processes; with --run, from their
// copy-on-write snapshots.
func TestDedupForkedWorkers(t *testing.T) {
	for _, mode := range []string{"--kill", "--run"} {
		t.Run(mode, func(t *testing.T) { dedupForkedWorkers(t, mode) })
	}
}

func dedupForkedWorkers(t *testing.T, mode string) {
	hh := newH(t)
	out := hh.path("out.txt")
	p := hh.startProg("sharers", []string{prog(t, "sharers"), "64", "60", "4"}, out)
	hh.waitOutput(hh.path("sharers.stderr"), wait30, "four workers ready", func(d []byte) (bool, error) {
		return strings.Count(string(d), "ready ") == 4, nil
	}, p)
	last := hh.waitSeq(out, seqSpec{tickLine, 1}, 3, wait30, p)
	pids := append([]int{p.pid}, children(p.pid)...)
	if len(pids) != 5 {
		t.Fatalf("sharers has %d workers, want 4", len(pids)-1)
	}
	var rss int64
	for _, pid := range pids {
		rss += residentOf(t, pid)
	}
	img := hh.path("sharers.img")
	hh.mustCkpt(img, mode, strconv.Itoa(p.pid))
	if mode == "--run" {
		last = hh.waitSeq(out, seqSpec{tickLine, 1}, last+2, wait30, p)
		p.kill()
	}
	hh.waitReaped(p, "after cr_checkpoint "+mode)
	waitGroupGone(p.pid, 10*time.Second) // the workers too: their group bears the parent's pid
	reapZombies()
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %d KiB; resident memory of the 5 processes %d KiB", st.Size()>>10, rss>>10)
	if st.Size() > rss/3 {
		t.Fatalf("image of %d KiB for %d KiB of resident memory: the shared pages were not stored once", st.Size()>>10, rss>>10)
	}
	info := hh.run(wait30, bin(t, "cr_info"), img)
	var dup, kib int64
	if _, err := fmt.Sscanf(info.stdout[strings.Index(info.stdout, "deduplicated: "):], "deduplicated: %d pages (%d KiB)", &dup, &kib); err != nil || dup < 4*64*256 {
		t.Fatalf("cr_info should count at least %d deduplicated pages (%v):\n%s", 4*64*256, err, tail([]byte(info.stdout), 400))
	}
	// From a stream, which a restorer reads front to back.
	in, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	rs := hh.start("cr_restart", []string{bin(t, "cr_restart"), "-F", "0"}, startOpts{stdin: in})
	t.Cleanup(func() { killRestored(p.pid, rs.pid) })
	if !rs.wait(wait30) {
		t.Fatalf("the restored sharers did not finish\n%s", rs.describe())
	}
	data, _ := os.ReadFile(out)
	text := strings.TrimSuffix(string(data), "\n")
	end := text[strings.LastIndexByte(text, '\n')+1:]
	if rs.state.ExitCode() != 0 || !strings.HasPrefix(end, "result ok ") {
		t.Fatalf("restored sharers: %s, last line %q\n%s", rs.state, end, rs.describe())
	}
	ticks, err := parseSeq([]byte(text[:len(text)-len(end)]), seqSpec{tickLine, 1}, true)
	if err != nil || ticks[len(ticks)-1] < last+3 {
		t.Fatalf("the parent's ticks did not continue from %d: %v", last, err)
	}
}

// residentOf is the resident memory of pid, in bytes.
func residentOf(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		t.Fatal(err)
	}
	var size, rss int64
	fmt.Sscan(string(b), &size, &rss)
	return rss * int64(os.Getpagesize())
}
