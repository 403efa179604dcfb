package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestChangedFiles: a --run checkpoint is a point in time. The job goes
// on writing a database it holds open for reading and writing and a log
// it appends to; a restart from the image refuses (the database no longer
// matches the memory that describes it), naming it and the way out;
// --changed-files=warn goes on, warning of both. Where only the log
// changed the restart goes on with a warning naming it, and
// --changed-files=refuse refuses it.
func TestChangedFiles(t *testing.T) {
	needEngine(t)
	py := python(t)
	src := `import os, sys, time
db = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
log = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(db, b"row 0\n")
n = 0
while True:
    n += 1
    if sys.argv[3] == "both":
        os.write(db, b"row %d\n" % n)
    os.write(log, b"line %d\n" % n)
    print("tick %d" % n, flush=True)
    time.sleep(0.05)
`
	for _, what := range []string{"both", "log"} {
		t.Run(what, func(t *testing.T) {
			hh := newH(t)
			db, log, out := hh.path("db"), hh.path("log"), hh.path("out")
			p := hh.startProg("job", []string{py, "-c", src, db, log, what}, out)
			seq := seqSpec{tickLine, 1}
			waitFor(t, out, "tick 2\n", p)
			img := hh.path("img")
			if r := hh.run(wait30, bin(t, "cr_checkpoint"), "-f", img, strconv.Itoa(p.pid)); r.code != 0 {
				t.Fatalf("checkpoint:\n%s", r)
			}
			at := hh.lastSeq(out, seq)
			hh.waitSeq(out, seq, at+3, wait30, p) // it goes on writing
			p.kill()
			hh.waitReaped(p, "killed")
			restart := func(name string, opts ...string) *proc {
				r := hh.start(name, append(append([]string{bin(t, "cr_restart")}, opts...), img), startOpts{})
				t.Cleanup(func() { killRestored(p.pid, r.pid) })
				return r
			}
			stderr := func(r *proc) string { b, _ := os.ReadFile(r.stderr); return string(b) }
			refused := func(r *proc, path string) {
				t.Helper()
				if !r.wait(wait30) || r.state.Success() || !strings.Contains(stderr(r), path+" changed since the checkpoint") {
					t.Fatalf("want a refusal naming %s\n%s", path, r.describe())
				}
			}
			runs := func(r *proc, warned ...string) {
				t.Helper()
				hh.waitSeq(out, seq, hh.lastSeq(out, seq)+2, wait30, r)
				for _, path := range warned {
					if !strings.Contains(stderr(r), "warning: pid "+strconv.Itoa(p.pid)) || !strings.Contains(stderr(r), path+" changed since the checkpoint") {
						t.Fatalf("no warning naming %s:\n%s", path, stderr(r))
					}
				}
				if what == "log" && strings.Contains(stderr(r), db+" changed") {
					t.Fatalf("a warning names the unchanged %s:\n%s", db, stderr(r))
				}
				killRestored(p.pid, r.pid)
				r.wait(wait30)
			}
			if what == "both" {
				r := restart("restart")
				refused(r, db)
				if !strings.Contains(stderr(r), "--changed-files=warn") {
					t.Fatalf("the refusal does not say how to go on:\n%s", stderr(r))
				}
				runs(restart("restart-warn", "--changed-files=warn"), db, log)
				return
			}
			runs(restart("restart"), log)
			refused(restart("restart-refuse", "--changed-files=refuse"), log)
		})
	}
}
