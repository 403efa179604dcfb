package e2e

import "testing"

// TestItimerExpiredWhileFrozen: a 1 ms ITIMER_REAL expires while its
// process is frozen for a checkpoint, so SIGALRM is pending and the
// kernel shows no time left; after a restart the timer still runs.
func TestItimerExpiredWhileFrozen(t *testing.T) {
	alarm := prog(t, "alarm")
	needEngine(t)
	hh := newH(t)
	out := hh.path("out.txt")
	seq := seqSpec{tickLine, 1}
	p := hh.startProg("alarm", []string{alarm}, out)
	hh.waitSeq(out, seq, 2, wait30, p)
	img := hh.path("img")
	hh.checkpoint("--kill", p.pid, img, wait30)
	hh.waitReaped(p, "after cr_checkpoint --kill")
	last := hh.lastSeq(out, seq)
	r := hh.restart("restart", img, p.pid, nil)
	hh.waitRestored(p.pid, r, wait30)
	hh.waitSeq(out, seq, last+3, wait30, r)
	hh.stopRestored(p.pid, r)
}
