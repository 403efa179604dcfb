package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestCheckpointByName: cr_checkpoint -n NAME (and an ID that is not a
// number) saves the caller's processes of that command name. One counter:
// its tree, restarted, counts on. Two unrelated counters: -T is refused,
// naming both; -p saves both into one image, and both count on after the
// restart. A name that matches nothing is refused, and another user's
// process of that name is never taken, even by root.
func TestCheckpointByName(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	// A name of this test's own, so no other counter on the machine matches.
	name := fmt.Sprintf("byname%d", os.Getpid()%100000)
	counter := hh.path(name)
	if b, err := os.ReadFile(prog(t, "counter")); err != nil || os.WriteFile(counter, b, 0o755) != nil {
		t.Fatalf("copy the counter as %s: %v", counter, err)
	}
	seq := seqSpec{tickLine, 1}

	out1 := hh.path("one.txt")
	p1 := hh.startProg("counter", []string{counter}, out1)
	hh.waitSeq(out1, seq, 3, wait30, p1)
	img := hh.path("one.img")
	if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--kill", "-f", img, name); r.code != 0 {
		t.Fatalf("cr_checkpoint --kill NAME:\n%s", r)
	}
	hh.checkInfoJSON(img)
	hh.waitReaped(p1, "after cr_checkpoint --kill counter")
	last := hh.lastSeq(out1, seq)
	rs := hh.restart("restart one", img, p1.pid, nil)
	hh.waitRestored(p1.pid, rs, wait30)
	hh.waitSeq(out1, seq, last+3, wait30, rs)
	hh.stopRestored(p1.pid, rs)

	out2, out3 := hh.path("two.txt"), hh.path("three.txt")
	p2 := hh.startProg("counter", []string{counter}, out2)
	p3 := hh.startProg("counter", []string{counter}, out3)
	hh.waitSeq(out2, seq, 3, wait30, p2)
	hh.waitSeq(out3, seq, 3, wait30, p3)
	r := hh.run(wait30, bin(t, "cr_checkpoint"), "-f", hh.path("tree.img"), "-n", name)
	if r.code == 0 || !strings.Contains(r.stderr, "2 unrelated trees") ||
		!strings.Contains(r.stderr, strconv.Itoa(p2.pid)+" ("+name+")") || !strings.Contains(r.stderr, strconv.Itoa(p3.pid)+" ("+name+")") {
		t.Fatalf("-n counter over two unrelated counters: want a refusal naming both\n%s", r)
	}
	img = hh.path("both.img")
	if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--kill", "-p", "-n", name, "-f", img); r.code != 0 {
		t.Fatalf("cr_checkpoint --kill -p -n counter:\n%s", r)
	}
	m := hh.checkInfoJSON(img)
	if procs, _ := m["processes"].([]any); len(procs) != 2 {
		t.Fatalf("-p -n counter: %d processes in the image, want 2", len(procs))
	}
	hh.waitReaped(p2, "after -p -n counter --kill")
	hh.waitReaped(p3, "after -p -n counter --kill")
	last2, last3 := hh.lastSeq(out2, seq), hh.lastSeq(out3, seq)
	rs = hh.restart("restart both", img, p2.pid, nil)
	hh.t.Cleanup(func() { killRestored(p3.pid, rs.pid) })
	hh.waitRestored(p2.pid, rs, wait30)
	hh.waitRestored(p3.pid, rs, wait30)
	hh.waitSeq(out2, seq, last2+3, wait30, rs)
	hh.waitSeq(out3, seq, last3+3, wait30, rs)
	killRestored(p3.pid, rs.pid)
	hh.stopRestored(p2.pid, rs)

	r = hh.run(wait30, bin(t, "cr_checkpoint"), "-n", "no-such-name")
	if r.code != 1 || !strings.Contains(r.stderr, "no process of yours") {
		t.Fatalf("-n no-such-name: want exit 1 and a clear message\n%s", r)
	}
	// Root's counter, named by uid 65534: refused, and listed as another user's.
	p4 := hh.startProg("counter", []string{counter}, hh.path("four.txt"))
	hh.waitSeq(hh.path("four.txt"), seq, 2, wait30, p4)
	r = hh.run(wait30, append(hh.nobody(), bin(t, "cr_checkpoint"), "-f", hh.path("nobody.img"), name)...)
	if r.code != 1 || !strings.Contains(r.stderr, "other users' are: "+strconv.Itoa(p4.pid)+" ("+name+")") {
		t.Fatalf("uid 65534, -n counter with only root's: want a refusal naming it as another user's\n%s", r)
	}
}
