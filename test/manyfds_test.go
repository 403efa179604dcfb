package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// manyFds is how many descriptors progs/manyfds.c opens: thousands, and
// its child holds them too.
const manyFds = 3000

// TestManyFds: a process with 3 000 descriptors (files at offsets of
// their own, dups sharing an offset, second opens of one file at the same
// offset that share nothing, /dev/null) and a child that holds them all
// too is checkpointed and restarted, as root and as uid 65534; after the
// restart the program checks each fd's offset, file, flags and
// close-on-exec, that reading or writing through one fd moves its dup's
// offset and not the other's, and that the child's reads moved the
// parent's offsets (progs/manyfds.c).
func TestManyFds(t *testing.T) {
	exe := prog(t, "manyfds")
	needEngine(t)
	for _, user := range []string{"root", "uid65534"} {
		t.Run(user, func(t *testing.T) {
			hh := newH(t)
			var as []string
			out := hh.path("manyfds.out")
			argv := []string{exe, hh.dir, strconv.Itoa(manyFds)}
			var p *proc
			if user == "root" {
				p = hh.startProg("manyfds", argv, out)
			} else {
				as = hh.nobody()
				p = hh.startNobody("manyfds", argv, out)
			}
			hh.waitOutput(out, wait30, "ready", func(b []byte) (bool, error) {
				return strings.HasPrefix(string(b), "ready "), nil
			}, p)
			img := hh.path("manyfds.img")
			began := time.Now()
			hh.killCkpt(as, p, img)
			t.Logf("checkpoint of %d fds in two processes: %v", 2*manyFds, time.Since(began).Round(time.Millisecond))
			waitGroupGone(p.pid, 10*time.Second) // the child too
			reapZombies()
			// The program checks its fds once this file exists, which it
			// can only see restored.
			if err := os.WriteFile(hh.path("go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			began = time.Now()
			r := hh.restartAs("cr_restart", as, img)
			t.Cleanup(func() { killRestored(p.pid, r.pid) })
			if !r.wait(wait30) {
				t.Fatalf("the restored manyfds did not finish\n%s", r.describe())
			}
			t.Logf("restart and checks: %v", time.Since(began).Round(time.Millisecond))
			data, _ := os.ReadFile(out)
			if r.state.ExitCode() != 0 || !strings.Contains(string(data), "result ok ") {
				t.Fatalf("restored manyfds: %s; its output:\n%s\n%s", r.state, tail(data, 2000), r.describe())
			}
		})
	}
}
