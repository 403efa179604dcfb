package e2e

import (
	"syscall"
	"testing"
	"time"
)

// TestStoppedProcess: a process stopped by SIGSTOP is checkpointed without
// being woken (it stays stopped and counts nothing until SIGCONT), and is
// restored stopped; cr_restart --cont lets it run, as in BLCR.
func TestStoppedProcess(t *testing.T) {
	counter := prog(t, "counter")
	needEngine(t)
	hh := newH(t)
	seq := seqSpec{tickLine, 1}
	out := hh.path("out.txt")
	p := hh.startProg("counter", []string{counter}, out)
	hh.waitSeq(out, seq, 3, wait30, p)

	stopped := func(pid int) {
		t.Helper()
		for deadline := time.Now().Add(wait30); ; time.Sleep(10 * time.Millisecond) {
			if st, err := readStat(pid); err == nil && st.state == "T" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d did not stop", pid)
			}
		}
		before := hh.lastSeq(out, seq)
		time.Sleep(200 * time.Millisecond)
		if st, err := readStat(pid); err != nil || st.state != "T" {
			t.Fatalf("pid %d is no longer stopped (%v, %v)", pid, st.state, err)
		}
		if now := hh.lastSeq(out, seq); now != before {
			t.Fatalf("pid %d counted while stopped (%d, then %d)", pid, before, now)
		}
	}

	syscall.Kill(p.pid, syscall.SIGSTOP)
	stopped(p.pid)
	hh.checkpoint("--run", p.pid, hh.path("run.img"), wait30)
	stopped(p.pid)
	syscall.Kill(p.pid, syscall.SIGCONT)
	hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, p)

	syscall.Kill(p.pid, syscall.SIGSTOP)
	stopped(p.pid)
	img := hh.path("kill.img")
	hh.checkpoint("--kill", p.pid, img, wait30)
	hh.waitReaped(p, "after cr_checkpoint --kill")
	last := hh.lastSeq(out, seq)

	r := hh.restart("restart", img, p.pid, nil)
	hh.waitRestored(p.pid, r, wait30)
	stopped(p.pid)
	syscall.Kill(p.pid, syscall.SIGCONT)
	hh.waitSeq(out, seq, last+3, wait30, r)
	hh.stopRestored(p.pid, r)

	r = hh.restartWith("restart-cont", p.pid, "--cont", img)
	hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, r)
	hh.stopRestored(p.pid, r)
}
