package e2e

import (
	"strconv"
	"testing"
	"time"
)

// TestKillThreads: cr_checkpoint --kill of a process with several threads
// returns once the process has ended, not at the end of a time limit. The
// threads other than the leader die traced, and stay zombies until their
// tracer reaps them; cr_checkpoint used to leave them, so the process
// never ended while it waited, and every such checkpoint took its 5 s
// limit. The restored process then counts on, every thread's share right.
func TestKillThreads(t *testing.T) {
	hh, p, out, seq := startThreads(t, 3)

	img := hh.path("kill.img")
	start := time.Now()
	r := hh.run(wait30, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(p.pid))
	took := time.Since(start)
	if r.code != 0 {
		t.Fatalf("checkpoint failed:\n%s", r)
	}
	if st, err := readStat(p.pid); err == nil && st.state != "Z" {
		t.Fatalf("pid %d is still %q when cr_checkpoint --kill returned", p.pid, st.state)
	}
	// The limit it used to reach is 5 s; a checkpoint of this small
	// process takes tens of milliseconds, hundreds on a loaded machine.
	if took >= 4*time.Second {
		t.Fatalf("cr_checkpoint --kill of a process with 5 threads took %v: it waited out its limit instead of the process's end", took)
	}
	t.Logf("cr_checkpoint --kill took %v", took.Round(time.Millisecond))
	hh.waitReaped(p, "after cr_checkpoint --kill")
	last := hh.lastSeq(out, seq)

	rs := hh.restart("restart", img, p.pid, nil)
	hh.waitRestored(p.pid, rs, wait30)
	hh.waitSeq(out, seq, last+3, wait30, rs)
	hh.stopRestored(p.pid, rs)
}

// startThreads starts progs/threads.c (main and 4 workers) and waits for
// its first rounds reports; it returns the harness, the process, its
// output file and the output's sequence.
func startThreads(t *testing.T, rounds int64) (*h, *proc, string, seqSpec) {
	t.Helper()
	threads := prog(t, "threads")
	needEngine(t)
	hh := newH(t)
	seq := seqSpec{roundLine, 100}
	out := hh.path("out.txt")
	p := hh.startProg("threads", []string{threads}, out)
	hh.waitSeq(out, seq, rounds, wait30, p)
	return hh, p, out, seq
}
