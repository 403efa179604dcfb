package e2e

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// generations checkpoints the tree of p, started as as and printing seq
// to out, with --kill, and restarts it, gens times: after each restart
// seq goes on and out says nothing "BAD". A restart as uid 65534 gives
// the processes new pids seen from here (a pid namespace), so only root
// goes more than one generation.
func (hh *h) generations(as []string, p *proc, out string, seq seqSpec, gens int) {
	t := hh.t
	t.Helper()
	if as != nil && gens > 1 {
		t.Fatalf("generations: %d generations as another user", gens)
	}
	pid, r := p.pid, p
	for gen := 1; gen <= gens; gen++ {
		img := hh.path("img" + strconv.Itoa(gen))
		tree := append([]int{pid}, descendants(pid)...)
		if res := hh.run(wait30, append(as[:len(as):len(as)], bin(t, "cr_checkpoint"), "--tree", "--kill", "-f", img, strconv.Itoa(pid))...); res.code != 0 {
			t.Fatalf("generation %d: checkpoint:\n%s", gen, res)
		}
		if !r.wait(10 * time.Second) {
			t.Fatalf("generation %d: still running after --kill\n%s", gen, r.describe())
		}
		for _, d := range tree {
			reap(d, 10*time.Second)
			waitGone(d, 10*time.Second)
		}
		last := hh.lastSeq(out, seq)
		r = hh.restartAs("restart"+strconv.Itoa(gen), as, img)
		rr := r
		t.Cleanup(func() {
			killRestored(pid, rr.pid)
			for _, d := range descendants(rr.pid) {
				syscall.Kill(d, syscall.SIGKILL)
			}
		})
		hh.waitSeq(out, seq, last+5, wait30, r)
		if b, _ := os.ReadFile(out); strings.Contains(string(b), "BAD") {
			t.Fatalf("generation %d:\n%s", gen, tail(b, 8))
		}
	}
	hh.verifySeq(out, seq, hh.lastSeq(out, seq))
}
