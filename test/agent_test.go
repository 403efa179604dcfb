package e2e

// Tests of the agent: cr_run and cr_restart as supervisors that take
// checkpoints on request (from cr_checkpoint and from libcr), on a signal,
// on a timer and before exit, and that mark what no image can hold.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jobOf waits for the job that the agent (cr_run or cr_restart) pid
// supervises and returns its pid.
func (hh *h) jobOf(agent *proc) int {
	hh.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Not the shim before it execs, nor a process still being
		// rebuilt by cr_restart (traced, or still the restorer).
		if kids := children(agent.pid); len(kids) == 1 && statusField(kids[0], "TracerPid") == "0" {
			exe, _ := os.Readlink("/proc/" + strconv.Itoa(kids[0]) + "/exe")
			if exe != "" && !strings.HasPrefix(exe, binDir) && !strings.HasPrefix(exe, "/memfd:") {
				return kids[0]
			}
		}
		if agent.exited() || time.Now().After(deadline) {
			hh.t.Fatalf("agent pid %d has no job\n%s", agent.pid, agent.describe())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ckpt runs cr_checkpoint with args and returns the result.
func (hh *h) ckpt(args ...string) result {
	hh.t.Helper()
	return hh.run(wait30, append([]string{bin(hh.t, "cr_checkpoint")}, args...)...)
}

// mustCkpt runs cr_checkpoint with args and requires success and an image.
func (hh *h) mustCkpt(image string, args ...string) {
	hh.t.Helper()
	r := hh.ckpt(append(args[:len(args)-1:len(args)-1], "-f", image, args[len(args)-1])...)
	if r.code != 0 {
		hh.t.Fatalf("checkpoint failed:\n%s", r)
	}
	if _, err := os.Stat(image); err != nil {
		hh.t.Fatalf("cr_checkpoint exited 0 but wrote no image: %v\n%s", err, r)
	}
}

// endedBy requires p to have been killed by sig within 10 s.
func endedBy(t *testing.T, p *proc, sig syscall.Signal) {
	t.Helper()
	if !p.wait(10 * time.Second) {
		t.Fatalf("%s did not end\n%s", p.name, p.describe())
	}
	ws := p.state.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != sig {
		t.Fatalf("%s ended with %s, want killed by %v\n%s", p.name, p.state, sig, p.describe())
	}
}

// exitedWith requires p to have exited with code within 10 s.
func exitedWith(t *testing.T, p *proc, code int) {
	t.Helper()
	if !p.wait(10 * time.Second) {
		t.Fatalf("%s did not end\n%s", p.name, p.describe())
	}
	if p.state.ExitCode() != code {
		t.Fatalf("%s ended with %s, want exit status %d\n%s", p.name, p.state, code, p.describe())
	}
}

// TestAgentGenerations: a job under cr_run is checkpointed through its
// agent (by the job's pid and by the agent's), restarted, checkpointed
// through cr_restart's agent, and restarted again; it counts on throughout.
// It runs under the watching seccomp filter, which each restart installs
// again with its listener handed to the new agent.
func TestAgentGenerations(t *testing.T) {
	counter := prog(t, "counter")
	hh := newH(t)
	seq := seqSpec{tickLine, 1}
	out := hh.path("out.txt")
	run := hh.startProg("cr_run", []string{bin(t, "cr_run"), "--watch-uncheckpointable", counter}, out)
	job := hh.jobOf(run)
	if got := statusField(job, "Seccomp"); got != "2" {
		t.Fatalf("the job runs with Seccomp: %q, want 2 (the shim's filter)", got)
	}
	last := hh.waitSeq(out, seq, 5, wait30, run)
	hh.mustCkpt(hh.path("a.img"), strconv.Itoa(job))
	last = hh.waitSeq(out, seq, last+5, wait30, run)
	hh.mustCkpt(hh.path("b.img"), "--kill", strconv.Itoa(run.pid))
	endedBy(t, run, syscall.SIGKILL)

	gen := hh.path("b.img")
	for i := 2; i <= 3; i++ {
		r := hh.restart("cr_restart-"+strconv.Itoa(i), gen, job, nil)
		if got := hh.jobOf(r); got != job {
			t.Fatalf("cr_restart's job is pid %d, want %d", got, job)
		}
		hh.checkRestored(job, r)
		if got := statusField(job, "Seccomp_filters"); got != "1" {
			t.Fatalf("the restored job has Seccomp_filters: %q, want 1", got)
		}
		last = hh.waitSeq(out, seq, hh.lastSeq(out, seq)+5, wait30, r)
		gen = hh.path(strconv.Itoa(i) + ".img")
		by := strconv.Itoa(r.pid) // through the agent, by its pid
		if i == 3 {
			by = strconv.Itoa(job)
		}
		hh.mustCkpt(gen, "--kill", by)
		endedBy(t, r, syscall.SIGKILL)
	}
	r := hh.restart("cr_restart-last", gen, job, nil)
	hh.waitSeq(out, seq, last+5, wait30, r)
	hh.stopRestored(job, r)
	hh.verifySeq(out, seq, last+5)
}

// TestAgentExitAndSignals: cr_run and cr_restart exit as the job exits,
// and pass on the signals they get.
func TestAgentExitAndSignals(t *testing.T) {
	counter := prog(t, "counter")
	hh := newH(t)
	if r := hh.run(wait30, bin(t, "cr_run"), "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("cr_run sh -c 'exit 7': %s", r)
	}
	if r := hh.run(wait30, bin(t, "cr_run"), "sh", "-c", "kill -TERM $$"); r.code != -1 {
		t.Errorf("cr_run sh -c 'kill -TERM $$' should die by SIGTERM: %s", r)
	}
	if r := hh.run(wait30, bin(t, "cr_run"), "/nonexistent/prog"); r.code != 127 || !strings.Contains(r.stderr, "/nonexistent/prog") {
		t.Errorf("cr_run of a missing program should say so and exit 127: %s", r)
	}

	seq := seqSpec{tickLine, 1}
	out := hh.path("out.txt")
	run := hh.startProg("cr_run", []string{bin(t, "cr_run"), counter, "60", "9"}, out)
	job := hh.jobOf(run)
	hh.waitSeq(out, seq, 5, wait30, run)
	syscall.Kill(run.pid, syscall.SIGTERM)
	endedBy(t, run, syscall.SIGTERM)

	out2 := hh.path("out2.txt")
	run = hh.startProg("cr_run", []string{bin(t, "cr_run"), counter, "60", "9"}, out2)
	job = hh.jobOf(run)
	hh.waitSeq(out2, seq, 5, wait30, run)
	hh.mustCkpt(hh.path("1.img"), "--kill", strconv.Itoa(job))
	endedBy(t, run, syscall.SIGKILL)
	r := hh.restart("cr_restart", hh.path("1.img"), job, nil)
	exitedWith(t, r, 9) // the counter ends at tick 60 with status 9
	hh.verifySeq(out2, seq, 60)

	os.WriteFile(out2, nil, 0o644)
	r = hh.restart("cr_restart-sig", hh.path("1.img"), job, nil)
	hh.waitOutput(out2, wait30, "a tick from the restored job", func(d []byte) (bool, error) { return len(d) > 0, nil }, r)
	syscall.Kill(r.pid, syscall.SIGUSR2)
	endedBy(t, r, syscall.SIGUSR2)
}

// TestAgentUncheckpointable: an io_uring instance in the job makes its
// next checkpoint fail, naming it: found in /proc by default, noted when it
// was made with --watch-uncheckpointable. With --deny-uncheckpointable the
// call fails with ENOSYS, and the job checkpoints and restarts with its
// filter.
func TestAgentUncheckpointable(t *testing.T) {
	uring := prog(t, "uring")
	hh := newH(t)
	seq := seqSpec{tickLine, 1}
	ticks := func(data []byte) []byte {
		first, rest, _ := strings.Cut(string(data), "\n")
		if !strings.HasPrefix(first, "uring: ") {
			t.Fatalf("uring printed %q first", first)
		}
		return []byte(rest)
	}
	start := func(name string, opts ...string) (*proc, int, string) {
		out := hh.path(name + ".txt")
		run := hh.startProg(name, append(append([]string{bin(t, "cr_run")}, opts...), uring), out)
		job := hh.jobOf(run)
		hh.waitOutput(out, wait30, "tick 3", func(d []byte) (bool, error) { return strings.Contains(string(d), "tick 3\n"), nil }, run)
		return run, job, out
	}
	for _, c := range []struct {
		opt  string
		want string
	}{
		{"", `pid %d fd \d+: io_uring \(anon_inode:\[io_uring\]\): not checkpointable`},
		{"--watch-uncheckpointable", `pid %d: io_uring instance created at \d\d:\d\d:\d\d: not checkpointable`},
	} {
		var opts []string
		if c.opt != "" {
			opts = []string{c.opt}
		}
		run, job, out := start("cr_run"+c.opt, opts...)
		if data, _ := os.ReadFile(out); !strings.HasPrefix(string(data), "uring: fd ") {
			t.Fatalf("cr_run %s: io_uring_setup should work: %q", c.opt, data)
		}
		img := hh.path("1.img")
		r := hh.ckpt("-f", img, strconv.Itoa(job))
		want := regexp.MustCompile(fmt.Sprintf(c.want, job))
		if r.code == 0 || !want.MatchString(r.stderr) {
			t.Fatalf("cr_run %s: checkpoint of a job holding an io_uring should fail naming it (%s):\n%s", c.opt, want, r)
		}
		if _, err := os.Stat(img); err == nil {
			t.Fatalf("a failed checkpoint left %s behind", img)
		}
		if run.exited() {
			t.Fatalf("the job died of a failed checkpoint\n%s", run.describe())
		}
	}

	run, job, out := start("cr_run-deny", "--deny-uncheckpointable")
	data, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(data), "uring: ENOSYS\n") {
		t.Fatalf("with --deny-uncheckpointable io_uring_setup should fail with ENOSYS: %q", data)
	}
	img := hh.path("2.img")
	hh.mustCkpt(img, "--kill", strconv.Itoa(job))
	endedBy(t, run, syscall.SIGKILL)
	data, _ = os.ReadFile(out)
	before, err := parseSeq(ticks(data), seq, true)
	if err != nil {
		t.Fatal(err)
	}
	rs := hh.restart("cr_restart", img, job, nil)
	hh.waitOutput(out, wait30, "ten ticks after the restart", func(d []byte) (bool, error) {
		ns, err := parseSeq(ticks(d), seq, false)
		return len(ns) >= len(before)+10, err
	}, rs)
	if f, n := statusField(job, "Seccomp_filters"), statusField(job, "NoNewPrivs"); f != "1" || n != "1" {
		t.Fatalf("the restored job has Seccomp_filters %q and NoNewPrivs %q, want 1 and 1", f, n)
	}
	hh.stopRestored(job, rs)
}

// TestAgentPolicies: checkpoints on a signal, on a timer and on the exit
// signal each give an image that restarts and counts on.
func TestAgentPolicies(t *testing.T) {
	counter := prog(t, "counter")
	seq := seqSpec{tickLine, 1}
	// restartFrom kills what is left of the job, restarts img and checks
	// the count goes on past where it was (the restarted copy rewrites the
	// lines the original wrote after img was taken, identically).
	restartFrom := func(hh *h, img, out string, job int, run *proc) {
		t.Helper()
		if !run.exited() {
			syscall.Kill(job, syscall.SIGKILL)
			endedBy(t, run, syscall.SIGKILL)
		}
		last := hh.lastSeq(out, seq)
		r := hh.restart("cr_restart", img, job, nil)
		hh.waitSeq(out, seq, last+5, wait30, r)
		hh.stopRestored(job, r)
		hh.verifySeq(out, seq, last+5)
	}
	t.Run("signal", func(t *testing.T) {
		hh := newH(t)
		out, img := hh.path("out.txt"), hh.path("sig.img")
		run := hh.startProg("cr_run", []string{bin(t, "cr_run"), "--checkpoint-signal", "USR1", "-f", img, counter}, out)
		job := hh.jobOf(run)
		last := hh.waitSeq(out, seq, 5, wait30, run)
		syscall.Kill(run.pid, syscall.SIGUSR1)
		waitFile(t, img)
		hh.waitSeq(out, seq, last+5, wait30, run) // it runs on
		restartFrom(hh, img, out, job, run)
	})
	t.Run("interval", func(t *testing.T) {
		hh := newH(t)
		out, img := hh.path("out.txt"), hh.path("iv.img")
		run := hh.startProg("cr_run", []string{bin(t, "cr_run"), "--interval", "200ms", "-f", img, counter}, out)
		job := hh.jobOf(run)
		waitFile(t, img)
		first, _ := os.Stat(img)
		deadline := time.Now().Add(wait30)
		for {
			fi, err := os.Stat(img)
			if err == nil && !os.SameFile(fi, first) {
				break // replaced by a later checkpoint
			}
			if time.Now().After(deadline) {
				t.Fatalf("--interval 200ms: %s was not replaced in %v\n%s", img, wait30, run.describe())
			}
			time.Sleep(20 * time.Millisecond)
		}
		restartFrom(hh, img, out, job, run)
	})
	t.Run("cr_restart-signal", func(t *testing.T) {
		// cr_restart takes the same options; by default its checkpoints
		// replace the image it restarted from.
		hh := newH(t)
		out, img := hh.path("out.txt"), hh.path("1.img")
		run := hh.startProg("cr_run", []string{bin(t, "cr_run"), counter}, out)
		job := hh.jobOf(run)
		hh.waitSeq(out, seq, 5, wait30, run)
		hh.mustCkpt(img, "--kill", strconv.Itoa(job))
		endedBy(t, run, syscall.SIGKILL)
		before, _ := os.Stat(img)
		r := hh.start("cr_restart", []string{bin(t, "cr_restart"), "--checkpoint-signal", "USR1", img}, startOpts{})
		hh.t.Cleanup(func() { killRestored(job, r.pid) })
		hh.waitSeq(out, seq, hh.lastSeq(out, seq)+5, wait30, r)
		syscall.Kill(r.pid, syscall.SIGUSR1)
		deadline := time.Now().Add(wait30)
		for {
			if fi, err := os.Stat(img); err == nil && !os.SameFile(fi, before) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("SIGUSR1 to cr_restart did not replace %s\n%s", img, r.describe())
			}
			time.Sleep(20 * time.Millisecond)
		}
		restartFrom(hh, img, out, job, r)
	})
	t.Run("exit-signal", func(t *testing.T) {
		hh := newH(t)
		out := hh.path("out.txt")
		run := hh.startProg("cr_run", []string{bin(t, "cr_run"), "--checkpoint-exit-signal", "SIGUSR2", "-d", hh.path("imgs"), counter}, out)
		job := hh.jobOf(run)
		hh.waitSeq(out, seq, 5, wait30, run)
		syscall.Kill(run.pid, syscall.SIGUSR2)
		exitedWith(t, run, 75)
		// --checkpoint-dir makes a checkpoint directory, as cr_checkpoint -d.
		if _, err := os.Stat(hh.path("imgs/context." + strconv.Itoa(job))); err != nil {
			t.Fatalf("the checkpoint directory has no image of the job's process: %v", err)
		}
		restartFrom(hh, hh.path("imgs"), out, job, run)
	})
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(wait30)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear in %v", path, wait30)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentControlSocket: a malformed request gets an error reply and the
// agent goes on serving; another user is turned away.
func TestAgentControlSocket(t *testing.T) {
	counter := prog(t, "counter")
	hh := newH(t)
	run := hh.startProg("cr_run", []string{bin(t, "cr_run"), counter}, hh.path("out.txt"))
	job := hh.jobOf(run)
	addr := agentSocket(t, run.pid, job)
	c, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rd := bufio.NewReader(c)
	img := hh.path("1.img")
	for _, line := range []string{"this is not json", `{"op":"frobnicate"}`, `{"op":"checkpoint","target":"x"}`,
		`{"op":"checkpoint","target":1}`} {
		c.SetDeadline(time.Now().Add(wait30))
		if _, err := c.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		reply, err := rd.ReadString('\n')
		if err != nil || !strings.Contains(reply, `"error"`) || !strings.Contains(reply, `"ok":false`) {
			t.Fatalf("request %q: reply %q, %v; want an error", line, reply, err)
		}
	}
	c.Write([]byte(`{"op":"checkpoint","id":7,"path":"` + img + `"}` + "\n"))
	reply, err := rd.ReadString('\n')
	if err != nil || !strings.Contains(reply, `"ok":true`) || !strings.Contains(reply, `"id":7`) {
		t.Fatalf("a good request after bad ones: reply %q, %v", reply, err)
	}
	if _, err := os.Stat(img); err != nil {
		t.Fatalf("the agent said ok but: %v", err)
	}

	// A hello must name the fd that is this connection.
	c2, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	c2.SetDeadline(time.Now().Add(wait30))
	c2.Write([]byte(`{"op":"hello","fd":0}` + "\n"))
	reply, err = bufio.NewReader(c2).ReadString('\n')
	c2.Close()
	if err != nil || !strings.Contains(reply, "is not this connection") {
		t.Fatalf("a hello naming fd 0: reply %q, %v", reply, err)
	}

	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv is not installed (%v): cannot act as another user", err)
	}
	hh.turnedAway([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}, job, "uid 65534 may not use the agent of uid 0")
}

// TestAgentUnprivileged: an ordinary user runs a job under cr_run and
// checkpoints it through the agent.
func TestAgentUnprivileged(t *testing.T) {
	counter := prog(t, "counter")
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv is not installed (%v): cannot act as another user", err)
	}
	hh := newH(t)
	dir, err := os.MkdirTemp("", "stasis-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, os.ModeSticky|0o777)
	os.Chmod(filepath.Dir(progDir), 0o755) // the test programs, for uid 65534
	os.Chmod(progDir, 0o755)
	as := []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
	seq := seqSpec{tickLine, 1}
	out := dir + "/out.txt"
	run := hh.startProg("cr_run", append(as, bin(t, "cr_run"), counter), out)
	job := hh.jobOf(run)
	if uid := statusField(job, "Uid"); !strings.HasPrefix(uid, "65534") {
		t.Fatalf("the job runs as uid %q", uid)
	}
	last := hh.waitSeq(out, seq, 5, wait30, run)
	img := dir + "/1.img"
	r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(job))...)
	if r.code != 0 {
		t.Fatalf("cr_checkpoint as uid 65534 through the agent:\n%s", r)
	}
	endedBy(t, run, syscall.SIGKILL)
	// Root restarts the image as its owner, uid 65534, whose job works in
	// a directory that user may enter and writes to a file it may open.
	hh.nobody()
	os.Chown(out, 65534, 65534)
	os.Chown(run.stderr, 65534, 65534)
	rs := hh.restartAs("cr_restart", nil, img)
	t.Cleanup(func() { killRestored(job, rs.pid) })
	hh.waitSeq(out, seq, last+5, wait30, rs)
	pid, _ := nsPid(t, rs.pid, int64(job), rs)
	if uid := statusField(pid, "Uid"); !strings.HasPrefix(uid, "65534") {
		t.Fatalf("the restored job runs as uid %q", uid)
	}
	rs.kill()
	rs.wait(10 * time.Second)
}

// TestAgentLibcr: a Go program using every libcr call (test/progs/libcrprog)
// under cr_run and cr_restart: callbacks on continue and on restart, a
// temporary failure surfacing as cr_checkpoint's status 50, a critical
// section holding a checkpoint back, and a self-checkpoint that returns
// "continued" and then, in the copy restarted from it, "restarted".
func TestAgentLibcr(t *testing.T) {
	libcrprog := prog(t, "libcrprog")
	hh := newH(t)
	logf := hh.path("libcrprog.log")
	has := func(what string) func([]byte) (bool, error) {
		return func(d []byte) (bool, error) { return strings.Contains(string(d), what), nil }
	}
	run := hh.startProg("cr_run", []string{bin(t, "cr_run"), libcrprog}, hh.path("out.txt"))
	job := hh.jobOf(run)
	hh.waitOutput(logf, wait30, "tick 5", has("\ntick 5\n"), run)

	// 1: a plain checkpoint through the agent runs the callback, which
	// learns who asked and where the image goes, and continues.
	r := hh.ckpt("-f", hh.path("a.img"), strconv.Itoa(job))
	if r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	want := regexp.MustCompile(`callback 1 requester=\d+ path=` + regexp.QuoteMeta(hh.path("a.img")) + ` status=running tryenter=false\n`)
	hh.waitOutput(logf, wait30, "callback 1 after: continued", has("callback 1 after: continued <nil>\n"), run)
	if data, _ := os.ReadFile(logf); !want.Match(data) {
		t.Fatalf("want a line matching %s in the log:\n%s", want, data)
	}

	// 2: the callback answers "not now": status 50, no image.
	os.WriteFile(hh.path("tempfail"), nil, 0o644)
	r = hh.ckpt("-f", hh.path("b.img"), strconv.Itoa(job))
	if r.code != 50 || !strings.Contains(r.stderr, "try again later") {
		t.Fatalf("a temporary failure should end cr_checkpoint with status 50 (CR_ETEMPFAIL): %s", r)
	}
	if _, err := os.Stat(hh.path("b.img")); err == nil {
		t.Fatal("a cancelled checkpoint left an image")
	}
	hh.waitOutput(logf, wait30, "callback 2 tempfail", has("callback 2 tempfail: libcr: checkpoint cancelled: temporary failure\n"), run)
	os.Remove(hh.path("tempfail"))

	// 3: a checkpoint asked for inside a critical section (by the agent's
	// pid) waits until the section is left.
	syscall.Kill(job, syscall.SIGUSR1)
	hh.waitOutput(logf, wait30, "cs entered", has("cs entered\n"), run)
	start := time.Now()
	r = hh.ckpt("-f", hh.path("c.img"), strconv.Itoa(run.pid))
	if r.code != 0 {
		t.Fatalf("checkpoint during a critical section: %s", r)
	}
	data, _ := os.ReadFile(logf)
	left, cb := strings.Index(string(data), "cs left\n"), strings.Index(string(data), "callback 3 ")
	if left < 0 || cb < left {
		t.Fatalf("the checkpoint's callback ran before the critical section was left:\n%s", data)
	}
	t.Logf("the checkpoint waited %v for the critical section", time.Since(start).Round(time.Millisecond))

	// 4: self-checkpoint: "continued" in the original.
	syscall.Kill(job, syscall.SIGUSR2)
	self := hh.path("self.img")
	hh.waitOutput(logf, wait30, "self: continued", has("self: continued "+self+" <nil>\n"), run)

	// 5: checkpoint and kill; the restarted copy's callback learns it was
	// restarted, and from which image.
	hh.mustCkpt(hh.path("d.img"), "--kill", strconv.Itoa(job))
	endedBy(t, run, syscall.SIGKILL)
	rs := hh.restart("cr_restart", hh.path("d.img"), job, nil)
	hh.waitOutput(logf, wait30, "callback 5 after: restarted", has("callback 5 after: restarted <nil>\nrestarted-from: "+hh.path("d.img")+"\n"), rs)

	// 6: the restarted copy takes part in checkpoints by its new agent.
	hh.mustCkpt(hh.path("e.img"), strconv.Itoa(rs.pid))
	hh.waitOutput(logf, wait30, "callback 6", has("callback 6 after: continued <nil>\n"), rs)
	syscall.Kill(job, syscall.SIGKILL)
	endedBy(t, rs, syscall.SIGKILL)

	// 7: the copy restarted from the self-checkpoint gets "restarted" from
	// the same libcr.Checkpoint call.
	rs = hh.restart("cr_restart-self", self, job, nil)
	hh.waitOutput(logf, wait30, "self: restarted", has("self: restarted "+self+" <nil>\n"), rs)
	hh.waitOutput(logf, wait30, "restarted-from: self.img", has("restarted-from: "+self+"\n"), rs)
	if data, _ := os.ReadFile(logf); strings.Contains(string(data), "error") || strings.Contains(string(data), "register:") {
		t.Fatalf("libcrprog reported an error:\n%s", data)
	}

	// 8: a process that asks to be omitted is not saved: status 3.
	os.WriteFile(hh.path("omit"), nil, 0o644)
	r = hh.ckpt("-f", hh.path("f.img"), strconv.Itoa(job))
	if r.code != 3 || !strings.Contains(r.stderr, "no processes checkpointed") {
		t.Fatalf("an omitted process: want status 3 (ESRCH): %s", r)
	}
	os.Remove(hh.path("omit"))

	// 9: a permanent failure cancels the checkpoint and kills the job:
	// status 51.
	os.WriteFile(hh.path("permfail"), nil, 0o644)
	r = hh.ckpt("-f", hh.path("g.img"), strconv.Itoa(job))
	if r.code != 51 || !strings.Contains(r.stderr, "unable to checkpoint") {
		t.Fatalf("a permanent failure: want status 51 (CR_EPERMFAIL): %s", r)
	}
	endedBy(t, rs, syscall.SIGKILL)
	for _, img := range []string{"f.img", "g.img"} {
		if _, err := os.Stat(hh.path(img)); err == nil {
			t.Fatalf("a cancelled checkpoint left %s", img)
		}
	}
}

// TestLibcrOutsideAgent: outside cr_run the Go package listens for
// cr_checkpoint, which runs its callback itself ("continued"); after a
// --kill checkpoint the copy cr_restart makes sees "restarted" and from
// which image. Checkpoint, which needs an agent, says there is none.
func TestLibcrOutsideAgent(t *testing.T) {
	libcrprog := prog(t, "libcrprog")
	hh := newH(t)
	logf := hh.path("libcrprog.log")
	p := hh.startProg("libcrprog", []string{libcrprog}, hh.path("out.txt"))
	hh.waitLog(logf, "\ntick 5\n", p)
	if r := hh.ckpt("-f", hh.path("a.img"), strconv.Itoa(p.pid)); r.code != 0 {
		t.Fatalf("checkpoint without an agent: %s", r)
	}
	hh.waitLog(logf, "callback 1 after: continued <nil>\n", p)
	syscall.Kill(p.pid, syscall.SIGUSR2)
	hh.waitLog(logf, "self: continued  libcr: not running under cr_run or cr_restart\n", p)
	hh.mustCkpt(hh.path("b.img"), "--kill", strconv.Itoa(p.pid))
	hh.waitReaped(p, "--kill")
	rs := hh.restart("cr_restart", hh.path("b.img"), p.pid, nil)
	hh.waitLog(logf, "callback 2 after: restarted <nil>\nrestarted-from: "+hh.path("b.img")+"\n", rs)
	// Its new agent takes its checkpoints from now on.
	hh.mustCkpt(hh.path("c.img"), strconv.Itoa(rs.pid))
	hh.waitLog(logf, "callback 3 after: continued <nil>\n", rs)
}

// TestAgentWholeJob: the agent's pid names its whole job, including a
// process orphaned inside it (which came to the agent as subreaper); both
// the main process and the orphan restart and count on.
func TestAgentWholeJob(t *testing.T) {
	counter := prog(t, "counter")
	hh := newH(t)
	seq := seqSpec{tickLine, 1}
	out, bg := hh.path("out.txt"), hh.path("bg.txt")
	script := "(" + counter + " > " + bg + " &); exec " + counter
	run := hh.startProg("cr_run", []string{bin(t, "cr_run"), "sh", "-c", script}, out)
	hh.waitSeq(out, seq, 5, wait30, run)
	hh.waitSeq(bg, seq, 5, wait30, run)
	kids := children(run.pid)
	if len(kids) != 2 {
		t.Fatalf("the agent should have two children (the job and the orphan), has %v", kids)
	}
	hh.mustCkpt(hh.path("job.img"), "--kill", strconv.Itoa(run.pid))
	endedBy(t, run, syscall.SIGKILL)
	reapZombies()
	last, lastBg := hh.lastSeq(out, seq), hh.lastSeq(bg, seq)
	r := hh.start("cr_restart", []string{bin(t, "cr_restart"), hh.path("job.img")}, startOpts{})
	hh.waitSeq(out, seq, last+5, wait30, r)
	hh.waitSeq(bg, seq, lastBg+5, wait30, r)
	got := children(r.pid)
	slices.Sort(got)
	slices.Sort(kids)
	if !slices.Equal(got, kids) {
		t.Fatalf("cr_restart's children are %v, want %v", got, kids)
	}
	syscall.Kill(-r.pid, syscall.SIGKILL)
}

// TestAgentSquattedName: uid 65534 takes every control socket name it
// can predict (the plain @stasis-agent-PID of the next pids, the same with
// the known prefix and a made-up suffix, and names whose SO_PEERCRED shows
// pids that are free again, which root's next agent may get), and yet
// root's cr_run starts its job, root checkpoints that job through its
// agent, restarts it and checkpoints it again through the new agent, and
// 65534's own client is turned away by root's agent. (Old code: exit 127,
// no job; then a job nobody could checkpoint through its agent.)
func TestAgentSquattedName(t *testing.T) {
	counter, squat := prog(t, "counter"), prog(t, "squat")
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv is not installed (%v): cannot act as another user", err)
	}
	as := []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
	os.Chmod(filepath.Dir(progDir), 0o755)
	os.Chmod(progDir, 0o755)
	hh := newH(t)
	sq := hh.start("squat", append(as, squat, "40", "300"), startOpts{})
	var first, last, held int
	hh.waitOutput(sq.stdout, wait30, "squat ready", func(d []byte) (bool, error) {
		_, err := fmt.Sscanf(string(d), "ready %d %d %d", &first, &last, &held)
		return err == nil, nil
	}, sq)
	t.Logf("uid 65534 holds %d names ahead and 40 stale ones for pids %d-%d", held, first, last)

	r := hh.run(wait30, bin(t, "cr_run"), "/bin/echo", "hi")
	if r.code != 0 || r.stdout != "hi\n" || r.stderr != "" {
		t.Fatalf("squatted names must not touch the job:\n%v", r)
	}

	// Give root's next agent one of the pids a stale name claims, if no
	// one else takes it first.
	os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(first-1)), 0)
	seq := seqSpec{tickLine, 1}
	out := hh.path("out.txt")
	run := hh.startProg("cr_run", []string{bin(t, "cr_run"), counter}, out)
	job := hh.jobOf(run)
	t.Logf("agent pid %d (stale names claim %d-%d)", run.pid, first, last)
	agentSocket(t, run.pid, job)
	hh.waitSeq(out, seq, 5, wait30, run)

	hh.turnedAway(as, job, "uid 65534 may not use the agent of uid 0")

	img := hh.path("job.img")
	r = hh.ckpt("-v", "--kill", "-f", img, strconv.Itoa(job))
	if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("asking agent pid %d\n", run.pid)) {
		t.Fatalf("root's checkpoint through its agent:\n%s", r)
	}
	endedBy(t, run, syscall.SIGKILL)
	last1 := hh.lastSeq(out, seq)
	rs := hh.restart("cr_restart", img, job, nil)
	hh.waitSeq(out, seq, last1+5, wait30, rs)
	agentSocket(t, rs.pid, job)
	r = hh.ckpt("-v", "-f", hh.path("job2.img"), strconv.Itoa(job))
	if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("asking agent pid %d\n", rs.pid)) {
		t.Fatalf("root's checkpoint of the restarted job through its new agent:\n%s", r)
	}
	hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, rs)
	hh.stopRestored(job, rs)
}

// agentSocket returns the name of the control socket that agent listens
// on, the one of that prefix it holds (others may be squatters'), and
// requires it to have a random part and job, its job, not to hold it.
func agentSocket(t *testing.T, agent, job int) string {
	t.Helper()
	held := func(pid int, ino string) bool {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); l == "socket:["+ino+"]" {
				return true
			}
		}
		return false
	}
	data, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	prefix := "@stasis-agent-" + strconv.Itoa(agent) + "-"
	var name string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[7], prefix) || !held(agent, f[6]) {
			continue
		}
		if name != "" {
			t.Fatalf("agent pid %d listens on %s and %s", agent, name, f[7])
		}
		name = f[7]
		if job > 0 && held(job, f[6]) {
			t.Fatalf("the job pid %d holds its agent's socket %s", job, name)
		}
	}
	if !regexp.MustCompile(`^` + prefix + `[0-9a-f]{32}$`).MatchString(name) {
		t.Fatalf("agent pid %d: control socket %q, want %s and 32 random hex digits", agent, name, prefix)
	}
	return name
}

// TestAgentNoSocket: an agent that cannot make its control socket (here a
// seccomp filter makes socket(AF_UNIX) fail) still starts its job, which
// runs to its end and exit status, and says it cannot be checkpointed
// through its agent. (The filter, inherited by the job, also makes the job
// uncheckpointable, so the agent's own checkpoints are not tried here.)
func TestAgentNoSocket(t *testing.T) {
	counter, nosocket := prog(t, "counter"), prog(t, "nosocket")
	hh := newH(t)
	msg := regexp.MustCompile(`^cr_run: agent pid \d+: control socket @stasis-agent-\d+-[0-9a-f]{32}: socket: permission denied: the job runs but cannot be checkpointed through its agent\n$`)
	r := hh.run(wait30, nosocket, bin(t, "cr_run"), "/bin/echo", "hi")
	if r.code != 0 || r.stdout != "hi\n" || !msg.MatchString(r.stderr) {
		t.Fatalf("without a control socket the job must run, and cr_run say so:\n%v", r)
	}
	r = hh.run(wait30, nosocket, bin(t, "cr_run"), counter, "20", "3")
	if r.code != 3 || !strings.HasSuffix(r.stdout, "tick 19\ntick 20\n") || !msg.MatchString(r.stderr) {
		t.Fatalf("without a control socket the job must run to its end and exit status 3:\n%v", r)
	}
}

// TestAgentGroupSession: BLCR's examples under an agent. A shell with job
// control makes `cr_run ./app &` lead a process group (and `setsid cr_run
// ./app` a session) that the job is in; `cr_checkpoint -g -f groupie PGID`
// and `cr_checkpoint -s -d my_checkpoints SID` save the job through its
// agent, and it restarts from either and counts on. (Old code: the agent
// took PGID for its job's pid, "group N: no such process group".)
func TestAgentGroupSession(t *testing.T) {
	counter := prog(t, "counter")
	seq := seqSpec{tickLine, 1}
	for _, tc := range []struct {
		name   string
		setsid bool
		args   []string
		image  string
	}{
		{"group", false, []string{"-g", "-f", "groupie"}, "groupie"},
		{"session", true, []string{"-s", "-d", "my_checkpoints"}, "my_checkpoints"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hh := newH(t)
			out := hh.path("out.txt")
			run := hh.start("cr_run", []string{bin(t, "cr_run"), counter}, startOpts{stdout: out, setsid: tc.setsid})
			job := hh.jobOf(run)
			hh.waitSeq(out, seq, 5, wait30, run)
			args := append([]string{"-v", "--kill"}, tc.args...)
			r := hh.ckpt(append(args, strconv.Itoa(run.pid))...)
			if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("asking agent pid %d\n", run.pid)) {
				t.Fatalf("BLCR's %s example through the agent:\n%s", tc.name, r)
			}
			endedBy(t, run, syscall.SIGKILL)
			last := hh.lastSeq(out, seq)
			rs := hh.restart("cr_restart", hh.path(tc.image), job, nil)
			hh.waitSeq(out, seq, last+5, wait30, rs)
			hh.stopRestored(job, rs)
		})
	}
}

// jobIDScript is a BLCR user's script: it keeps the job's $!, checkpoints
// it now and then, and after each restart goes on using the same $!, which
// names the restarted job (through its agent, which answers for it).
const jobIDScript = `set -e
grow() { # wait for the counter to count 5 more
	n=$(wc -l < out.txt)
	while [ "$(wc -l < out.txt)" -lt $((n + 5)) ]; do sleep 0.05; done
}
: > out.txt
"$BIN/cr_run" "$COUNTER" >> out.txt &
PID=$!
echo "pid $PID"
grow
"$BIN/cr_checkpoint" $PID
grow
"$BIN/cr_checkpoint" --kill $PID
wait $PID || true
for gen in 1 2; do
	"$BIN/cr_restart" context.$PID &
	R=$!
	echo "restart $gen pid $R"
	grow
	"$BIN/cr_checkpoint" $PID
	grow
	"$BIN/cr_checkpoint" --kill $PID
	wait $R || true
done
"$BIN/cr_restart" context.$PID &
R=$!
grow
"$BIN/cr_checkpoint" --kill -f last.img $PID
wait $R || true
echo done
`

// TestAgentJobID: the $! that a script keeps names its job across
// restarts: jobIDScript checkpoints $PID, kills the job, restarts it from
// context.$PID and checkpoints $PID again, twice, and the counter counts
// on through all of it; as root, and as uid 65534 (whose cr_restart puts
// the job in a pid namespace of its own). uid 65533 holds names that
// answer for every pid it can predict, which neither user's cr_checkpoint
// talks to. (Old code: "pid N: no such process" after the first restart.)
func TestAgentJobID(t *testing.T) {
	counter, squat := prog(t, "counter"), prog(t, "squat")
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv is not installed (%v): cannot act as another user", err)
	}
	as := []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
	os.Chmod(filepath.Dir(progDir), 0o755)
	os.Chmod(progDir, 0o755)
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			hh := newH(t)
			// Another user than either of ours: a stand-in of one's own
			// user is trusted (nothing is gained by squatting oneself).
			sq := hh.start("squat", []string{setpriv, "--reuid=65533", "--regid=65533", "--clear-groups", squat, "0", "300"}, startOpts{})
			hh.waitOutput(sq.stdout, wait30, "squat ready", func(d []byte) (bool, error) { return strings.HasPrefix(string(d), "ready"), nil }, sq)
			dir, env := hh.dir, []string{"env"}
			if user == "nobody" {
				if dir, err = os.MkdirTemp("", "stasis-nobody-"); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				os.Chmod(dir, os.ModeSticky|0o777)
				env = append(as, "env")
			}
			script := filepath.Join(dir, "blcr.sh")
			if err := os.WriteFile(script, []byte(jobIDScript), 0o755); err != nil {
				t.Fatal(err)
			}
			r := hh.run(2*wait30, append(env, "BIN="+binDir, "COUNTER="+counter, "sh", "-c", "cd "+dir+" && exec sh blcr.sh")...)
			if r.code != 0 || !strings.HasSuffix(r.stdout, "done\n") {
				t.Fatalf("the BLCR script as %s:\n%s", user, r)
			}
			hh.verifySeq(filepath.Join(dir, "out.txt"), seqSpec{tickLine, 1}, 30)
			if _, err := os.Stat(filepath.Join(dir, "last.img")); err != nil {
				t.Fatalf("the third restart's checkpoint through $PID: %v", err)
			}
			var pid int
			fmt.Sscanf(r.stdout, "pid %d", &pid)
			t.Logf("$PID %d; uid 65533 answered for pids %d-%d\n%s", pid, sq.pid+1, sq.pid+300, r.stdout)
		})
	}
}

// TestAgentSquattedNameNobody: the same squatting by uid 65533 against an
// ordinary user's (65534's) jobs: they start, 65534 checkpoints its job
// through its agent, restarts it (in a pid namespace) and checkpoints it
// through the new agent, and 65533's client is turned away.
// (Old code: 65534's jobs could not be checkpointed through their agent.)
func TestAgentSquattedNameNobody(t *testing.T) {
	counter, squat := prog(t, "counter"), prog(t, "squat")
	hh := newH(t)
	as := hh.nobody()
	other := []string{as[0], "--reuid=65533", "--regid=65533", "--clear-groups"}
	sq := hh.start("squat", append(other, squat, "20", "300"), startOpts{})
	hh.waitOutput(sq.stdout, wait30, "squat ready", func(d []byte) (bool, error) { return strings.HasPrefix(string(d), "ready"), nil }, sq)

	r := hh.run(wait30, append(as, bin(t, "cr_run"), "/bin/echo", "hi")...)
	if r.code != 0 || r.stdout != "hi\n" || r.stderr != "" {
		t.Fatalf("squatted names must not touch uid 65534's job:\n%v", r)
	}
	seq := seqSpec{tickLine, 1}
	out := hh.path("out.txt")
	run := hh.startNobody("cr_run", []string{bin(t, "cr_run"), counter}, out)
	job := hh.jobOf(run)
	agentSocket(t, run.pid, job)
	hh.waitSeq(out, seq, 5, wait30, run)
	// 65533's cr_checkpoint does not ask another user's agent (and the
	// agent would refuse it); nor may it checkpoint the job itself.
	hh.turnedAway(other, job, "belongs to uid 65534: not yours to checkpoint")
	img := hh.path("job.img")
	r = hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "-v", "--kill", "-f", img, strconv.Itoa(job))...)
	if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("asking agent pid %d\n", run.pid)) {
		t.Fatalf("uid 65534's checkpoint through its agent:\n%s", r)
	}
	endedBy(t, run, syscall.SIGKILL)
	last := hh.lastSeq(out, seq)
	rs := hh.start("cr_restart", append(as, bin(t, "cr_restart"), img), startOpts{})
	t.Cleanup(func() { killRestored(job, rs.pid) })
	hh.waitSeq(out, seq, last+5, wait30, rs)
	r = hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "-v", "--kill", "-f", hh.path("job2.img"), strconv.Itoa(rs.pid))...)
	if r.code != 0 || !strings.Contains(r.stderr, "asking agent pid") {
		t.Fatalf("uid 65534's checkpoint of the restarted job through its new agent:\n%s", r)
	}
	endedBy(t, rs, syscall.SIGKILL)
}

// turnedAway requires cr_checkpoint of job, run as the user as says, to
// fail saying why, and to write no image.
func (hh *h) turnedAway(as []string, job int, why string) {
	t := hh.t
	t.Helper()
	img := fmt.Sprintf("/tmp/stasis-%s-%d.img", strings.TrimPrefix(as[1], "--reuid="), job)
	r := hh.run(wait30, append(as[:len(as):len(as)], bin(t, "cr_checkpoint"), "-f", img, strconv.Itoa(job))...)
	if r.code == 0 || !strings.Contains(r.stderr, why) {
		t.Fatalf("another user must be turned away (%q):\n%s", why, r)
	}
	if _, err := os.Stat(img); err == nil {
		os.Remove(img)
		t.Fatalf("another user's request wrote %s", img)
	}
}
