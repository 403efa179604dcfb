package e2e

// Tests of cr_checkpoint's scopes (-T -p -g -s) and their failures, while
// images hold one process.

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestScopes(t *testing.T) {
	counter := prog(t, "counter")
	hh := newH(t)
	seq := seqSpec{tickLine, 1}

	// The harness starts each program in a group of its own: -g names it.
	out := hh.path("out.txt")
	p := hh.startProg("counter", []string{counter}, out)
	last := hh.waitSeq(out, seq, 5, wait30, p)
	img := hh.path("g.img")
	r := hh.ckpt("-g", "--kill", "-f", img, strconv.Itoa(p.pid))
	if r.code != 0 {
		t.Fatalf("cr_checkpoint -g of a one-process group: %s", r)
	}
	hh.waitReaped(p, "after cr_checkpoint -g --kill")
	rs := hh.restart("cr_restart", img, p.pid, nil)
	hh.waitSeq(out, seq, last+5, wait30, rs)
	hh.stopRestored(p.pid, rs)

	sh := hh.startProg("sh", []string{"sh", "-c", counter + " >/dev/null & " + counter + " >/dev/null & wait"}, hh.path("sh.txt"))
	hh.waitOutput(hh.path("sh.txt"), wait30, "two children", func([]byte) (bool, error) { return len(children(sh.pid)) == 2, nil }, sh)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-T", strconv.Itoa(sh.pid)}, "tree " + strconv.Itoa(sh.pid) + " holds 3 processes"},
		{[]string{strconv.Itoa(sh.pid)}, "holds 3 processes"}, // -T is the default
		{[]string{"-g", strconv.Itoa(sh.pid)}, "group " + strconv.Itoa(sh.pid) + " holds 3 processes"},
		{[]string{"-s", strconv.Itoa(os.Getpid())}, "no such session"}, // we lead no session
		{[]string{"-g", strconv.Itoa(unusedPid(t))}, "no such process group"},
		{[]string{"-p", strconv.Itoa(unusedPid(t))}, "no such process"},
		{[]string{"-p", "2"}, "kernel thread"},
		{[]string{"-p", "--ptraced-allow", strconv.Itoa(sh.pid)}, ""}, // not traced: allowed
	} {
		img := hh.path("x.img")
		r := hh.ckpt(append([]string{"-f", img}, c.args...)...)
		if c.want == "" {
			if r.code != 0 {
				t.Errorf("%v: %s", c.args, r)
			}
			os.Remove(img)
			continue
		}
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("cr_checkpoint %v: want a failure saying %q: %s", c.args, c.want, r)
		}
		if _, err := os.Stat(img); err == nil {
			t.Errorf("cr_checkpoint %v failed but wrote %s", c.args, img)
			os.Remove(img)
		}
	}
	if sh.exited() {
		t.Fatalf("the failed checkpoints harmed the script\n%s", sh.describe())
	}
	syscall.Kill(-sh.pid, syscall.SIGKILL)

	// An ordinary user may not save a process of root's.
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv is not installed (%v): cannot act as another user", err)
	}
	q := hh.startProg("counter2", []string{counter}, hh.path("out2.txt"))
	r = hh.run(wait30, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin(t, "cr_checkpoint"), "-f", "/tmp/stasis-x.img", "-g", strconv.Itoa(q.pid))
	if r.code == 0 || !strings.Contains(r.stderr, "belongs to uid 0: not yours to checkpoint") {
		t.Fatalf("uid 65534 checkpointing root's process: %s", r)
	}
	if _, err := os.Stat("/tmp/stasis-x.img"); err == nil {
		os.Remove("/tmp/stasis-x.img")
		t.Fatal("a refused checkpoint wrote an image")
	}
}
