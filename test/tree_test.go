package e2e

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// treeHeapsSize is how many processes TestTreeHeaps's tree has.
const treeHeapsSize = 24

// TestTreeHeaps: a tree of processes that check their own memory all the
// time (progs/heaptree.c: one heap larger than a read batch, the others
// small, zero pages among them, and a word changed each round) goes on
// after a restart with every heap whole and every round counted: taken
// with --kill, where each process is written while the next is captured,
// and with --run, from snapshots, as root and as uid 65534.
func TestTreeHeaps(t *testing.T) {
	heaptree := prog(t, "heaptree")
	for _, user := range []string{"root", "nobody"} {
		for _, mode := range []string{"--kill", "--run"} {
			t.Run(user+mode, func(t *testing.T) {
				hh := newH(t)
				argv := []string{heaptree, strconv.Itoa(treeHeapsSize)}
				out := hh.path("out.txt")
				seq := seqSpec{tickLine, 1}
				as, p := hh.startAs(user, "heaptree", argv, out)
				hh.waitSeq(out, seq, 5, wait30, p)
				kids := descendants(p.pid)
				if len(kids) != treeHeapsSize-1 {
					t.Fatalf("heaptree %d has %d descendants, want %d", p.pid, len(kids), treeHeapsSize-1)
				}
				img := hh.path("tree.img")
				r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), mode, "-f", img, strconv.Itoa(p.pid))...)
				if r.code != 0 {
					t.Fatalf("checkpoint:\n%s", r)
				}
				last := hh.lastSeq(out, seq)
				if mode == "--run" {
					// It runs on, every heap still whole; then it is ended.
					last = hh.waitSeq(out, seq, last+5, wait30, p)
					p.kill()
				}
				hh.waitReaped(p, "after the checkpoint")
				for _, k := range kids {
					reapWhenDead(k)
				}
				var rs *proc
				if user == "nobody" {
					rs = hh.restartAs("cr_restart", as, img)
				} else {
					rs = hh.restart("cr_restart", img, p.pid, nil)
				}
				hh.waitSeq(out, seq, last+10, wait30, rs)
				hh.verifySeq(out, seq, last+10)
				for _, d := range descendants(rs.pid) {
					syscall.Kill(d, syscall.SIGKILL)
				}
				rs.kill()
				if !rs.wait(10 * time.Second) {
					t.Errorf("cr_restart did not exit within 10s after its tree was killed\n%s", rs.describe())
				}
				reapZombies()
			})
		}
	}
}
