package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestForkedSharedFds: a parent, its child and its grandchild
// (progs/forkfds.c) that share some descriptions by fork (stdio, a file,
// an eventfd, a descriptor whose close-on-exec only the child cleared, a
// dup of a shared one at another number) and hold others of their own
// (the same file opened again by each at its own offset, a pipe end,
// /dev/zero in the parent only) each find after a restart exactly their
// own fds, flags and offsets, the shared ones shared with their parent
// (kcmp) and the others not, and go on passing the shared offset and the
// eventfd's count between them; as root and as uid 65534. A restart lets
// a forked child keep such fds as the fork gave them (restart/files.go,
// keptFds) rather than passing them again.
func TestForkedSharedFds(t *testing.T) {
	forkfds := prog(t, "forkfds")
	needEngine(t)
	seq := seqSpec{tickLine, 1}
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			hh := newH(t)
			file := hh.path("shared.dat")
			if err := os.WriteFile(file, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			out := hh.path("forkfds.out")
			argv := []string{forkfds, file}
			if user == "nobody" {
				if err := os.Chown(file, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			}
			as, p := hh.startAs(user, "forkfds", argv, out)
			hh.waitSeq(out, seq, 5, wait30, p)
			kids := descendants(p.pid)
			if len(kids) != 2 {
				t.Fatalf("forkfds %d has descendants %v, want a child and a grandchild", p.pid, kids)
			}
			img := hh.path("forkfds.img")
			hh.killCkpt(as, p, img)
			for _, k := range kids {
				reapWhenDead(k)
			}
			last := hh.lastSeq(out, seq)
			var rs *proc
			if user == "nobody" {
				rs = hh.restartAs("cr_restart", as, img)
			} else {
				rs = hh.restart("cr_restart", img, p.pid, nil)
			}
			hh.waitSeq(out, seq, last+20, wait30, rs)
			if n := len(descendants(rs.pid)); n < 3 {
				t.Errorf("cr_restart has %d descendants running, want the 3 processes", n)
			}
			// Stopped first: a parent whose child died first would say BAD.
			ds := descendants(rs.pid)
			for _, d := range ds {
				syscall.Kill(d, syscall.SIGSTOP)
			}
			for _, d := range ds {
				syscall.Kill(d, syscall.SIGKILL)
			}
			rs.kill()
			if !rs.wait(10 * time.Second) {
				t.Errorf("cr_restart did not exit within 10s after its processes were killed\n%s", rs.describe())
			}
			reapZombies()
			hh.verifySeq(out, seq, last+20)
			for _, f := range []string{p.stderr, rs.stderr} {
				if b, _ := os.ReadFile(f); strings.Contains(string(b), "BAD") {
					t.Errorf("%s:\n%s", f, b)
				}
			}
		})
	}
}
