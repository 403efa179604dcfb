package e2e

// cr_job outside a batch system (--dir): the warning signal checkpoints
// and ends the job (exit 75), a rerun restarts the newest image, a damaged
// newest image falls back to the one before, and a checkpoint that cannot
// be written leaves the job running and the previous image as it was. The
// same command under a real Slurm is tested in test/slurm.

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lockOut makes dir unwritable for uid 65534 and all that acts for it:
// owned by root, mode 0755. Mode 0500 alone would not do: a job that
// uid 65534 restarted has its agent in a user namespace of that user's,
// where it holds CAP_DAC_OVERRIDE over the user's own files.
func lockOut(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// letIn gives dir back to uid, mode 0700.
func letIn(t *testing.T, dir string, uid int) {
	t.Helper()
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// crJob starts cr_job (its argv prefixed by as) with its stdout appended
// to out, as a batch system's --open-mode=append would.
func (hh *h) crJob(name string, as []string, out string, args ...string) *proc {
	hh.t.Helper()
	argv := append(append(as[:len(as):len(as)], bin(hh.t, "cr_job")), args...)
	p := hh.start(name, argv, startOpts{stdout: out, append: true})
	if as != nil {
		for _, f := range []string{out, p.stderr} {
			if err := os.Chown(f, 65534, 65534); err != nil {
				hh.t.Fatal(err)
			}
		}
	}
	return p
}

// jobEnds waits for cr_job to exit with want.
func (hh *h) jobEnds(p *proc, want int, why string) {
	hh.t.Helper()
	if !p.wait(wait30) {
		hh.t.Fatalf("%s: cr_job did not exit:\n%s", why, p.describe())
	}
	if got := p.state.ExitCode(); got != want {
		hh.t.Fatalf("%s: cr_job exited %d, want %d:\n%s", why, got, want, p.describe())
	}
}

// stderrSays waits until p's stderr holds want.
func (hh *h) stderrSays(p *proc, want string) {
	hh.t.Helper()
	deadline := time.Now().Add(wait30)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(p.stderr); bytes.Contains(b, []byte(want)) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	hh.t.Fatalf("%s never said %q:\n%s", p.name, want, p.describe())
}

// ticks reads the counter's output: its numbers in order.
func ticks(t *testing.T, out string) []int64 {
	t.Helper()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var ns []int64
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		n, err := strconv.ParseInt(strings.TrimPrefix(l, "tick "), 10, 64)
		if err != nil || !strings.HasPrefix(l, "tick ") {
			t.Fatalf("%s: line %q is not the counter's", out, l)
		}
		ns = append(ns, n)
	}
	return ns
}

// wantTicks checks the counter's numbers are runs [from, to] one after
// another.
func wantTicks(t *testing.T, out string, runs ...[2]int64) {
	t.Helper()
	var want []int64
	for _, r := range runs {
		for n := r[0]; n <= r[1]; n++ {
			want = append(want, n)
		}
	}
	got := ticks(t, out)
	for i := range max(len(got), len(want)) {
		if i >= len(got) || i >= len(want) || got[i] != want[i] {
			t.Fatalf("%s: line %d: got %v, want %v (runs %v, %d lines)", out, i+1, at(got, i), at(want, i), runs, len(got))
		}
	}
}

func at(ns []int64, i int) any {
	if i < len(ns) {
		return ns[i]
	}
	return "nothing"
}

// TestCrJobFallback: two warnings give image.1 and image.2; image.2 is
// damaged; the third run says so, restarts image.1, renames image.2 to
// image.2.bad, and the job finishes from where image.1 left it, removing
// its images.
func TestCrJobFallback(t *testing.T) {
	hh := newH(t)
	dir, out := hh.path("imgs"), hh.path("out")
	job := []string{"--dir", dir, prog(t, "counter"), "300"}
	var last [2]int64
	for i := range 2 {
		p := hh.crJob("cr_job"+strconv.Itoa(i+1), nil, out, job...)
		last[i] = hh.waitSeq(out, seqSpec{tickLine, 1}, last[max(i-1, 0)]+10, wait30, p)
		p.cmd.Process.Signal(syscall.SIGUSR1)
		hh.jobEnds(p, 75, "warning "+strconv.Itoa(i+1))
		last[i] = hh.lastSeq(out, seqSpec{tickLine, 1})
	}
	img2 := filepath.Join(dir, "image.2")
	damage(t, img2)

	p := hh.crJob("cr_job3", nil, out, job...)
	hh.jobEnds(p, 0, "the run after the damage")
	errText, _ := os.ReadFile(p.stderr)
	for _, want := range []string{"restart from " + img2 + " failed", "falling back to the previous image, " + filepath.Join(dir, "image.1"), "renamed image.2.bad"} {
		if !strings.Contains(string(errText), want) {
			t.Errorf("cr_job's stderr does not say %q:\n%s", want, errText)
		}
	}
	wantTicks(t, out, [2]int64{1, last[1]}, [2]int64{last[0] + 1, 300})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the finished job's image directory is still there (%v)", err)
	}
}

// damage flips a byte of the first process record of an image, which its
// checksum catches.
func damage(t *testing.T, img string) {
	t.Helper()
	for _, r := range imageRecords(t, img) {
		if r.typ == 1 {
			b, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			b[r.payload+r.n/2] ^= 0xff
			if err := os.WriteFile(img, b, 0o400); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("%s: no process record", img)
}

// TestCrJobCheckpointFails: uid 65534's job checkpoints every second;
// then its image directory is made read-only. The timer's checkpoints and
// the warning's fail, saying so; the job runs on; image.1 is untouched.
// Once the directory is writable again the warning ends the job into a
// new image, and the rerun, restarted while the directory is read-only
// again (cr_job must not take that for a failed restart), finishes the
// count without a gap.
func TestCrJobCheckpointFails(t *testing.T) {
	hh := newH(t)
	as := hh.nobody()
	dir, out := hh.path("imgs"), hh.path("out")
	job := []string{"--dir", dir, "--interval", "1s", prog(t, "counter"), "400"}
	p := hh.crJob("cr_job", as, out, job...)
	img1 := filepath.Join(dir, "image.1")
	hh.stderrSays(p, "checkpointed into "+img1)
	sum := func() [32]byte {
		b, err := os.ReadFile(img1)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()
	lockOut(t, dir)
	hh.stderrSays(p, "checkpoint into "+filepath.Join(dir, "image.2")+" failed")
	hh.stderrSays(p, "the job runs on; "+img1+" is kept for the next run")
	p.cmd.Process.Signal(syscall.SIGUSR1)
	n := hh.waitSeq(out, seqSpec{tickLine, 1}, 1, wait30, p)
	hh.waitSeq(out, seqSpec{tickLine, 1}, n+20, wait30, p)
	if p.exited() {
		t.Fatalf("the job ended after a failed checkpoint:\n%s", p.describe())
	}
	if sum() != before {
		t.Fatalf("%s changed while checkpoints failed", img1)
	}
	letIn(t, dir, 65534)
	time.Sleep(1500 * time.Millisecond) // a timer checkpoint or two succeed again
	p.cmd.Process.Signal(syscall.SIGUSR1)
	hh.jobEnds(p, 75, "the warning once the directory is writable")
	last := hh.lastSeq(out, seqSpec{tickLine, 1})

	// The rerun restarts while the directory is read-only (0500, as its
	// user would make it) again: that must not pass for a failed restart.
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	p2 := hh.crJob("cr_job2", as, out, job...)
	hh.stderrSays(p2, "checkpointed into ")
	letIn(t, dir, 65534)
	hh.jobEnds(p2, 0, "the rerun")
	wantTicks(t, out, [2]int64{1, last}, [2]int64{last + 1, 400})
}

// TestCrJobScript: a job script whose interpreter is cr_job (#!/usr/bin/env
// -S cr_job --dir DIR). Its lines run in bash under cr_job, so the
// checkpoint holds bash and the counter it waits for: the warning ends
// both, the rerun restarts both, the count goes on unbroken, and bash
// then runs the script's next line.
func TestCrJobScript(t *testing.T) {
	hh := newH(t)
	dir, out, ended := hh.path("imgs"), hh.path("out"), hh.path("ended")
	script := hh.path("job.sh")
	text := "#!/usr/bin/env -S " + bin(t, "cr_job") + " --dir " + dir + "\n" +
		"# the lines below run in bash, under cr_job\n" +
		prog(t, "counter") + " 200\n" +
		"echo \"the counter ended with status $?\" > " + ended + "\n"
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	p := hh.start("job1", []string{script}, startOpts{stdout: out, append: true})
	hh.waitSeq(out, seqSpec{tickLine, 1}, 20, wait30, p)
	p.cmd.Process.Signal(syscall.SIGUSR1)
	hh.jobEnds(p, 75, "the warning")
	last := hh.lastSeq(out, seqSpec{tickLine, 1})
	if _, err := os.Stat(ended); err == nil {
		t.Fatalf("the script went past the counter before the rerun")
	}
	p2 := hh.start("job2", []string{script}, startOpts{stdout: out, append: true})
	hh.jobEnds(p2, 0, "the rerun")
	hh.stderrSays(p2, "restarting from "+filepath.Join(dir, "image.1"))
	wantTicks(t, out, [2]int64{1, last}, [2]int64{last + 1, 200})
	if b, err := os.ReadFile(ended); err != nil || string(b) != "the counter ended with status 0\n" {
		t.Fatalf("the script's last line, after the restart: %q, %v", b, err)
	}
}
