package e2e

// The C library (clib/, libcr(3)): programs built with gcc, g++ and
// gfortran against the installed header and library take part in their
// checkpoints under cr_run and cr_restart, as root and as uid 65534.

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var libcr struct {
	once   sync.Once
	prefix string
	err    error
}

// installedLibcr runs make install-libcr into a prefix of its own, once,
// readable by uid 65534.
func installedLibcr(t *testing.T) string {
	t.Helper()
	libcr.once.Do(func() {
		work := filepath.Join(filepath.Dir(progDir), "libcr")
		libcr.prefix = filepath.Join(work, "prefix")
		cmd := exec.Command("make", "install-libcr", "PREFIX="+libcr.prefix, "DESTDIR=", "BIN="+filepath.Join(work, "build"))
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MFLAGS=", "MAKELEVEL=")
		if out, err := cmd.CombinedOutput(); err != nil {
			libcr.err = &buildError{"make install-libcr", err, out}
			return
		}
		filepath.Walk(work, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.Chmod(filepath.Dir(progDir), 0o755)
	})
	if libcr.err != nil {
		t.Fatal(libcr.err)
	}
	return libcr.prefix
}

type buildError struct {
	what string
	err  error
	out  []byte
}

func (e *buildError) Error() string { return e.what + ": " + e.err.Error() + "\n" + string(e.out) }

// buildAgainstLibcr compiles test/progs/src with compiler against the
// installed libcr, linking -lcr, into the program name.
func buildAgainstLibcr(t *testing.T, compiler, src, name string, flags ...string) string {
	t.Helper()
	prefix := installedLibcr(t)
	if _, err := exec.LookPath(compiler); err != nil {
		t.Fatalf("%s is needed to build %s (apt-get install %s; .ci/run does): %v", compiler, src, compiler, err)
	}
	exe := filepath.Join(filepath.Dir(progDir), "libcr", name)
	args := append([]string{"-O2", "-g", "-Wall", "-I" + filepath.Join(prefix, "include"), "-o", exe}, flags...)
	args = append(args, filepath.Join(repoRoot, "test", "progs", src),
		"-L"+filepath.Join(prefix, "lib"), "-Wl,-rpath,"+filepath.Join(prefix, "lib"), "-lcr", "-pthread")
	cmd := exec.Command(compiler, args...)
	cmd.Dir = filepath.Dir(exe) // where gfortran leaves its .mod files
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", compiler, strings.Join(args, " "), err, out)
	}
	return exe
}

// buildStatic compiles test/progs/src with gcc and the flags that
// pkg-config gives for the installed libcr.pc, linking libcr.a
// (pkg-config --static, -Wl,-Bstatic around -lcr): the program must not
// need libcr.so.0 to run.
func buildStatic(t *testing.T, src, name string) string {
	t.Helper()
	prefix := installedLibcr(t)
	pc := exec.Command("pkg-config", "--static", "--cflags", "--libs", "libcr")
	pc.Env = append(os.Environ(), "PKG_CONFIG_PATH="+filepath.Join(prefix, "lib", "pkgconfig"))
	flags, err := pc.Output()
	if err != nil {
		t.Fatalf("pkg-config --static --cflags --libs libcr (apt-get install pkgconf; .ci/run does): %v", err)
	}
	exe := filepath.Join(filepath.Dir(progDir), "libcr", name)
	args := []string{"-O2", "-Wall", "-o", exe, filepath.Join(repoRoot, "test", "progs", src)}
	for _, f := range strings.Fields(string(flags)) {
		if f == "-lcr" {
			args = append(args, "-Wl,-Bstatic", "-lcr", "-Wl,-Bdynamic")
			continue
		}
		args = append(args, f)
	}
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if out, _ := exec.Command("ldd", exe).CombinedOutput(); strings.Contains(string(out), "libcr.so") {
		t.Fatalf("%s links libcr.so, not libcr.a:\n%s", exe, out)
	}
	return exe
}

func has(what string) func([]byte) (bool, error) {
	return func(d []byte) (bool, error) { return strings.Contains(string(d), what), nil }
}

// waitLog waits for the program's log to exist, then for what in it.
func (hh *h) waitLog(logf, what string, watch ...*proc) {
	hh.t.Helper()
	deadline := time.Now().Add(wait30)
	for _, err := os.Stat(logf); err != nil && time.Now().Before(deadline); _, err = os.Stat(logf) {
		time.Sleep(20 * time.Millisecond)
	}
	hh.waitOutput(logf, wait30, strconv.Quote(what), has(what), watch...)
}

// continuous requires the numbers in out to be 1, 2, 3... without a gap
// or a repeat.
func continuous(t *testing.T, out string) int {
	t.Helper()
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, l := range lines {
		if l != strconv.Itoa(i+1) {
			t.Fatalf("%s: line %d is %q, want %d: the callback's flush and reopen lost or repeated output\n%s", out, i+1, l, i+1, excerpt(lines, i))
		}
	}
	return len(lines)
}

// TestLibcrC: test/progs/crclient.c, built with gcc -lcr, under cr_run and
// cr_restart: a callback that flushes and reopens its output sees
// "continued" and "restarted" and the output runs on unbroken; both
// threads' signal-context callbacks see the same; a temporary failure
// (also with its own code, CR_CHECKPOINT_TEMP_FAILURE_CODE) and an omit
// give cr_checkpoint's statuses 50 (143) and 3; a callback slower than
// --time has the checkpoint abandoned (110) while the program runs on,
// and the next one works; a checkpoint waits for a critical section; a
// self-checkpoint to a descriptor returns in the original and reports
// CR_ERESTARTED in the copy restarted from it; a permanent failure kills
// the job (51). As uid 65534: the continue, temporary failure,
// self-checkpoint and restart.
func TestLibcrC(t *testing.T) {
	exe := buildAgainstLibcr(t, "gcc", "crclient.c", "crclient")
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) { libcrFlow(t, exe, who == "nobody") })
	}
}

func libcrFlow(t *testing.T, exe string, nobody bool) {
	hh := newH(t)
	var as []string
	if nobody {
		as = hh.nobody()
	}
	logf, out := hh.path("crclient.log"), hh.path("crclient.out")
	ckpt := func(args ...string) result {
		return hh.run(wait30, append(append(as[:len(as):len(as)], bin(t, "cr_checkpoint")), args...)...)
	}
	run := hh.startProg("cr_run", append(as[:len(as):len(as)], bin(t, "cr_run"), exe), hh.path("run.out"))
	job := hh.jobOf(run)
	hh.waitLog(logf, "tick 20\n", run)

	// A plain checkpoint: every callback runs and sees "continued"; the
	// thread-context one learns who asked and where the image goes.
	if r := ckpt("-f", hh.path("a.img"), strconv.Itoa(run.pid)); r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	hh.waitLog(logf, "callback 1 after: continued\n", run)
	want := regexp.MustCompile(`callback 1 requester=\d+ dest=` + regexp.QuoteMeta(hh.path("a.img")) + ` scope=3 status=2\n`)
	for _, w := range []string{"signal cb main: continued\n", "signal cb worker: continued\n"} {
		hh.waitLog(logf, w, run)
	}
	if data, _ := os.ReadFile(logf); !want.Match(data) {
		t.Fatalf("want a line matching %s in the log:\n%s", want, data)
	}

	// A temporary failure: status 50, no image, and the callback's
	// cr_checkpoint returns -CR_ETEMPFAIL.
	touch(t, hh.path("tempfail"))
	r := ckpt("-f", hh.path("b.img"), strconv.Itoa(run.pid))
	if r.code != 50 || !strings.Contains(r.stderr, "try again later") {
		t.Fatalf("CR_CHECKPOINT_TEMP_FAILURE: want status 50 (CR_ETEMPFAIL): %s", r)
	}
	hh.waitLog(logf, "callback 2 tempfail: -2354 ", run)
	os.Remove(hh.path("tempfail"))
	if _, err := os.Stat(hh.path("b.img")); err == nil {
		t.Fatal("a cancelled checkpoint left an image")
	}
	tempCode(t, hh, ckpt, run, logf, 3)

	// A self-checkpoint to a descriptor: cr_poll_checkpoint returns > 0.
	syscall.Kill(job, syscall.SIGUSR2)
	hh.waitLog(logf, "self: continued\n", run)
	hh.waitLog(logf, "callback 4 after: continued\n", run)

	if !nobody {
		rootOnlySteps(t, hh, ckpt, run, job, logf)
	}

	// Checkpoint and kill; the restarted copy's callbacks see "restarted",
	// from which image and from which cr_restart, and its output runs on.
	if r := ckpt("--kill", "-f", hh.path("d.img"), strconv.Itoa(run.pid)); r.code != 0 {
		t.Fatalf("checkpoint --kill: %s", r)
	}
	endedBy(t, run, syscall.SIGKILL)
	n := rounds(t, logf)
	if nobody {
		giveNobody(out, logf, run.stdout, run.stderr)
	}
	rs := hh.restartAs("cr_restart", as, hh.path("d.img"))
	t.Cleanup(func() { killRestored(job, rs.pid) })
	hh.seesRestarted(logf, out, hh.path("d.img"), n, rs)

	// The restarted copy takes part in checkpoints by its new agent.
	if r := ckpt("-f", hh.path("e.img"), strconv.Itoa(rs.pid)); r.code != 0 {
		t.Fatalf("checkpoint of the restarted copy: %s", r)
	}
	hh.waitLog(logf, "callback "+strconv.Itoa(n+1)+" after: continued\n", rs)
	continuous(t, out)
	rs.kill()
	rs.wait(10 * time.Second)
	waitGroupGone(rs.pid, 10*time.Second)

	// The copy restarted from the self-checkpoint: cr_poll_checkpoint
	// reports CR_ERESTARTED, the callbacks "restarted".
	rs = hh.restartAs("cr_restart-self", as, hh.path("self.img"))
	t.Cleanup(func() { killRestored(job, rs.pid) })
	hh.waitLog(logf, "self: restarted\n", rs)
	hh.waitLog(logf, "callback 4 after: restarted from "+hh.path("self.img"), rs)
	if data, _ := os.ReadFile(logf); strings.Contains(string(data), "error") {
		t.Fatalf("crclient reported an error:\n%s", data)
	}

	// A permanent failure cancels the checkpoint and kills the job: 51.
	touch(t, hh.path("permfail"))
	r = ckpt("-f", hh.path("g.img"), strconv.Itoa(rs.pid))
	if r.code != 51 || !strings.Contains(r.stderr, "unable to checkpoint") {
		t.Fatalf("CR_CHECKPOINT_PERM_FAILURE: want status 51 (CR_EPERMFAIL): %s", r)
	}
	if !rs.wait(10 * time.Second) {
		t.Fatalf("the job was not killed after a permanent failure\n%s", rs.describe())
	}
}

// rootOnlySteps: an omit, a callback slower than --time, a critical
// section (these signal the job by its pid, which an unprivileged
// restart's namespace changes).
func rootOnlySteps(t *testing.T, hh *h, ckpt func(...string) result, run *proc, job int, logf string) {
	touch(t, hh.path("omit"))
	r := ckpt("-f", hh.path("f.img"), strconv.Itoa(run.pid))
	if r.code != 3 || !strings.Contains(r.stderr, "no processes checkpointed") {
		t.Fatalf("CR_CHECKPOINT_OMIT of the only process: want status 3 (ESRCH): %s", r)
	}
	hh.waitLog(logf, "callback 5 omit: -2358 ", run)
	os.Remove(hh.path("omit"))

	// A callback that takes 4 s with --time 1: the checkpoint is abandoned
	// (status 110, ETIMEDOUT) while the program runs on; when the callback
	// answers, its cr_checkpoint says the checkpoint timed out, and the
	// next one works.
	touch(t, hh.path("slow"))
	start := time.Now()
	r = ckpt("--time", "1", "-f", hh.path("h.img"), strconv.Itoa(run.pid))
	if r.code != 110 || !strings.Contains(r.stderr, "took longer than allowed") || time.Since(start) > 3500*time.Millisecond {
		t.Fatalf("a callback slower than --time 1: want status 110 within about 1 s, got after %v: %s", time.Since(start), r)
	}
	os.Remove(hh.path("slow"))
	hh.waitLog(logf, "callback 6 after: failed -110 ", run)
	if r := ckpt("-f", hh.path("i.img"), strconv.Itoa(run.pid)); r.code != 0 {
		t.Fatalf("the checkpoint after an abandoned one: %s", r)
	}
	hh.waitLog(logf, "callback 7 after: continued\n", run)

	// A checkpoint asked for inside a critical section waits until it
	// is left before any callback runs.
	syscall.Kill(job, syscall.SIGUSR1)
	hh.waitLog(logf, "cs entered\n", run)
	if r := ckpt("-f", hh.path("j.img"), strconv.Itoa(run.pid)); r.code != 0 {
		t.Fatalf("checkpoint during a critical section: %s", r)
	}
	data, _ := os.ReadFile(logf)
	left, cb := strings.Index(string(data), "cs left\n"), strings.Index(string(data), "callback 8 ")
	if left < 0 || cb < left {
		t.Fatalf("the checkpoint's callback ran before the critical section was left:\n%s", data)
	}
}

// tempCode: a callback's CR_CHECKPOINT_TEMP_FAILURE_CODE(911) is its
// cr_checkpoint's -911 and cr_checkpoint's exit status 911 & 255 = 143,
// as in BLCR; round n.
func tempCode(t *testing.T, hh *h, ckpt func(...string) result, p *proc, logf string, n int) {
	t.Helper()
	touch(t, hh.path("tempcode"))
	defer os.Remove(hh.path("tempcode"))
	if r := ckpt("-f", hh.path("code.img"), strconv.Itoa(p.pid)); r.code != 911&0xff || !strings.Contains(r.stderr, "try again later") {
		t.Fatalf("CR_CHECKPOINT_TEMP_FAILURE_CODE(911): want status 143 (911's low 8 bits): %s", r)
	}
	hh.waitLog(logf, "callback "+strconv.Itoa(n)+" tempcode: -911\n", p)
}

// seesRestarted waits for crclient restarted from img by rs to say so in
// its callbacks, round n and both signal-context ones, and to write on
// from where its output stopped.
func (hh *h) seesRestarted(logf, out, img string, n int, rs *proc) {
	hh.t.Helper()
	hh.waitLog(logf, "callback "+strconv.Itoa(n)+" after: restarted from "+img+" by ", rs)
	hh.waitLog(logf, "signal cb main: restarted\n", rs)
	hh.waitLog(logf, "signal cb worker: restarted\n", rs)
	last := continuous(hh.t, out)
	hh.waitOutput(out, wait30, "more output", func(d []byte) (bool, error) {
		return strings.Count(string(d), "\n") > last+5, nil
	}, rs)
}

// giveNobody gives uid 65534 the files a copy it restarts opens again.
func giveNobody(files ...string) {
	for _, f := range files {
		os.Chown(f, 65534, 65534)
	}
}

// rounds is the number of the last callback round in the log.
func rounds(t *testing.T, logf string) int {
	data, err := os.ReadFile(logf)
	if err != nil {
		t.Fatal(err)
	}
	return len(regexp.MustCompile(`(?m)^callback \d+ requester=`).FindAll(data, -1))
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLibcrLanguages: a C++ program (g++), a Fortran program (gfortran,
// through ISO_C_BINDING) and a C program written for BLCR from its
// documentation alone (blcrdoc.c, which includes "libcr.h" as BLCR's
// examples do) build unchanged against the installed library (blcrdoc
// also with pkg-config's flags, statically against libcr.a); under
// cr_run their callbacks see "continued", and in the copy cr_restart
// makes from a --kill checkpoint, "restarted". blcrdoc checkpoints itself
// with cr_request_checkpoint and cr_poll_checkpoint, which report
// CR_ERESTARTED in the restarted copy.
func TestLibcrLanguages(t *testing.T) {
	for _, tc := range []struct {
		compiler, src, name, out string
		selfCkpt                 bool
	}{
		{"g++", "crcxx.cc", "crcxx", "crcxx.out", false},
		{"gfortran", "crfort.f90", "crfort", "crfort.out", false},
		{"gcc", "blcrdoc.c", "blcrdoc", "blcrdoc.out", true},
		{"pkg-config", "blcrdoc.c", "blcrdoc-static", "blcrdoc.out", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var exe string
			if tc.compiler == "pkg-config" {
				exe = buildStatic(t, tc.src, tc.name)
			} else {
				exe = buildAgainstLibcr(t, tc.compiler, tc.src, tc.name)
			}
			hh := newH(t)
			out := hh.path(tc.out)
			stdout := hh.path("run.stdout")
			if tc.selfCkpt {
				stdout = out // it writes to its standard output
			}
			run := hh.startProg("cr_run", []string{bin(t, "cr_run"), exe}, stdout)
			if tc.selfCkpt {
				hh.waitLog(out, "callback: continue\n", run)
				hh.waitLog(out, "checkpoint done: continuing\n", run)
				job := hh.jobOf(run)
				run.kill()
				run.wait(10 * time.Second)
				rs := hh.start("cr_restart", []string{bin(t, "cr_restart"), hh.path("blcrdoc.ctx")}, startOpts{stdout: out, append: true})
				t.Cleanup(func() { killRestored(job, rs.pid) })
				hh.waitLog(out, "callback: restart\n", rs)
				hh.waitLog(out, "checkpoint done: restarting\n", rs)
				hh.waitLog(out, "iteration 25\n", rs)
				return
			}
			hh.waitLog(out, "tick 10\n", run)
			if r := hh.ckpt("-f", hh.path("a.img"), strconv.Itoa(run.pid)); r.code != 0 {
				t.Fatalf("checkpoint: %s", r)
			}
			hh.waitLog(out, "continued\n", run)
			job := hh.jobOf(run)
			hh.mustCkpt(hh.path("b.img"), "--kill", strconv.Itoa(run.pid))
			endedBy(t, run, syscall.SIGKILL)
			rs := hh.restart("cr_restart", hh.path("b.img"), job, nil)
			hh.waitLog(out, "restarted\n", rs)
			data, _ := os.ReadFile(out)
			last := regexp.MustCompile(`tick (\d+)\n`).FindAllSubmatch(data, -1)
			n, _ := strconv.Atoi(string(last[len(last)-1][1]))
			hh.waitLog(out, "tick "+strconv.Itoa(n+3)+"\n", rs)
		})
	}
}

// TestLibcrCNoAgent: linking with -lcr is enough. crclient started by
// neither cr_run nor cr_restart is checkpointed by cr_checkpoint PID
// directly, which finds the library's listener and runs its callbacks in
// both contexts (continued), gets its temporary failure (50), and after a
// --kill checkpoint the copy cr_restart makes sees "restarted", its
// output runs on, and its new agent takes its checkpoints. Asking for a
// checkpoint of oneself needs an agent: CR_ENOSUPPORT. As root and as uid
// 65534.
func TestLibcrCNoAgent(t *testing.T) {
	exe := buildAgainstLibcr(t, "gcc", "crclient.c", "crclient")
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			if who == "nobody" {
				as = hh.nobody()
			}
			logf, out := hh.path("crclient.log"), hh.path("crclient.out")
			ckpt := func(args ...string) result {
				return hh.run(wait30, append(append(as[:len(as):len(as)], bin(t, "cr_checkpoint")), args...)...)
			}
			p := hh.startProg("crclient", append(as[:len(as):len(as)], exe), hh.path("crclient.stdout"))
			hh.waitLog(logf, "tick 20\n", p)
			pid := p.pid // setpriv execs: p is crclient itself
			if r := ckpt("-f", hh.path("a.img"), strconv.Itoa(pid)); r.code != 0 {
				t.Fatalf("checkpoint without an agent: %s", r)
			}
			for _, w := range []string{"callback 1 after: continued\n", "signal cb main: continued\n", "signal cb worker: continued\n"} {
				hh.waitLog(logf, w, p)
			}
			touch(t, hh.path("tempfail"))
			if r := ckpt("-f", hh.path("b.img"), strconv.Itoa(pid)); r.code != 50 || !strings.Contains(r.stderr, "try again later") {
				t.Fatalf("CR_CHECKPOINT_TEMP_FAILURE without an agent: want status 50: %s", r)
			}
			hh.waitLog(logf, "callback 2 tempfail: -2354 ", p)
			os.Remove(hh.path("tempfail"))
			tempCode(t, hh, ckpt, p, logf, 3)
			syscall.Kill(pid, syscall.SIGUSR2)
			hh.waitLog(logf, "self: error cr_request_checkpoint: Not supported", p)

			if r := ckpt("--kill", "-f", hh.path("c.img"), strconv.Itoa(pid)); r.code != 0 {
				t.Fatalf("checkpoint --kill without an agent: %s", r)
			}
			hh.waitReaped(p, "--kill")
			if as != nil {
				giveNobody(out, logf, p.stdout, p.stderr)
			}
			rs := hh.restartAs("cr_restart", as, hh.path("c.img"))
			t.Cleanup(func() { killRestored(pid, rs.pid) })
			hh.seesRestarted(logf, out, hh.path("c.img"), 4, rs)
			if r := ckpt("-f", hh.path("d.img"), strconv.Itoa(rs.pid)); r.code != 0 {
				t.Fatalf("checkpoint of the restarted copy by its agent: %s", r)
			}
			hh.waitLog(logf, "callback 5 after: continued\n", rs)
			continuous(t, out)
		})
	}
}

// TestLibcrCMisbehaving: callbacks that never return or crash, under an
// agent and without one. A callback that never returns has the
// checkpoint abandoned when --time runs out (status 110) while the program
// runs on, critical sections included; the next checkpoint fails at once
// (50), saying that callback has not returned: nothing hangs. A callback that crashes takes its process with it, and
// cr_checkpoint fails instead of waiting.
func TestLibcrCMisbehaving(t *testing.T) {
	exe := buildAgainstLibcr(t, "gcc", "crclient.c", "crclient")
	for _, mode := range []string{"agent", "direct"} {
		t.Run(mode, func(t *testing.T) {
			start := func(hh *h) (*proc, string) {
				argv := []string{exe}
				if mode == "agent" {
					argv = []string{bin(t, "cr_run"), exe}
				}
				p := hh.startProg("crclient", argv, hh.path("crclient.stdout"))
				hh.waitLog(hh.path("crclient.log"), "tick 20\n", p)
				return p, hh.path("crclient.log")
			}
			hh := newH(t)
			p, logf := start(hh)
			touch(t, hh.path("hang"))
			for i := 1; i <= 2; i++ {
				// The first waits for --time; the next fails at once, saying
				// why, rather than wait behind the callback that hangs.
				begin := time.Now()
				r := hh.ckpt("--time", "1", "-f", hh.path("a.img"), strconv.Itoa(p.pid))
				took := time.Since(begin)
				if i == 1 && (r.code != 110 || took > 5*time.Second) {
					t.Fatalf("checkpoint with a callback that never returns: want status 110 once --time 1 ran out, got after %v: %s", took, r)
				}
				if i == 2 && (r.code != 50 || !strings.Contains(r.stderr, "has not returned") || took > 900*time.Millisecond) {
					t.Fatalf("checkpoint after one abandoned with its callback hanging: want status 50 at once, got after %v: %s", took, r)
				}
				hh.waitLog(logf, "callback 1 hangs\n", p)
				data, _ := os.ReadFile(logf)
				ticks := strings.Count(string(data), "tick ")
				hh.waitOutput(logf, wait30, "the program running on", func(d []byte) (bool, error) {
					return strings.Count(string(d), "tick ") >= ticks+2, nil
				}, p)
			}
			if _, err := os.Stat(hh.path("a.img")); err == nil {
				t.Fatal("an abandoned checkpoint left an image")
			}
			// Its critical sections work again.
			target := p.pid
			if mode == "agent" {
				target = hh.jobOf(p)
			}
			syscall.Kill(target, syscall.SIGUSR1)
			hh.waitLog(logf, "cs left\n", p)
			p.kill()
			p.wait(10 * time.Second)
			waitGroupGone(p.pid, 10*time.Second)

			hh = newH(t)
			p, logf = start(hh)
			touch(t, hh.path("crash"))
			begin := time.Now()
			r := hh.ckpt("-f", hh.path("b.img"), strconv.Itoa(p.pid))
			if r.code == 0 || time.Since(begin) > wait30 {
				t.Fatalf("checkpoint with a callback that crashes: want a failure, got after %v: %s", time.Since(begin), r)
			}
			hh.waitLog(logf, "callback 1 crashes\n", p)
			if !p.wait(10 * time.Second) {
				t.Fatalf("the process whose callback crashed is still there\n%s", p.describe())
			}
			t.Logf("cr_checkpoint after the crash, in %v: %s", time.Since(begin).Round(time.Millisecond), strings.TrimSpace(r.stderr))
		})
	}
}

// TestLibcrMessages: the C library's decoder of the agent's messages
// (clib/msg.c) reads what the Go side writes, the escapes Go's encoder
// uses included, and survives hostile lines (deep nesting, unterminated
// strings, bad escapes, random bytes and random cuts of good messages)
// with an answer for each and no crash.
func TestLibcrMessages(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatalf("gcc is needed: %v", err)
	}
	exe := filepath.Join(t.TempDir(), "crmsg")
	clib := filepath.Join(repoRoot, "clib")
	if out, err := exec.Command("gcc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
		"-I"+clib, "-I"+filepath.Join(clib, "include"), "-o", exe,
		filepath.Join(repoRoot, "test", "progs", "crmsg.c"), filepath.Join(clib, "msg.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc crmsg: %v\n%s", err, out)
	}
	good := []struct{ in, want string }{
		{`{"ev":"prepare","id":7,"requester":12,"target":34,"scope":"tree","signal":9,"path":"/a b/\u003cimg\u003e \"q\" \\ é \ud83d\ude00"}`,
			`ev=prepare id=7 requester=12 target=34 signal=9 status=0 code=0 scope=tree path=/a b/<img> "q" \ é 😀 error= reply=0/0/0/0/`},
		{`{"ev":"done","id":3,"error":"pid 5: no","status":50,"code":911}`,
			`ev=done id=3 requester=0 target=0 signal=0 status=50 code=911 scope= path= error=pid 5: no reply=0/0/0/0/`},
		{`{"ev":"reply","id":2,"reply":{"id":2,"ok":true,"want_fd":true,"status":0,"path":"/x","extra":[1,{"y":null}]}}`,
			`ev=reply id=2 requester=0 target=0 signal=0 status=0 code=0 scope= path= error= reply=1/1/1/0//x`},
		{` { "ev" : "restarted" , "path" : "/i.img" , "requester" : 1.5e0 } `, "bad"}, // not an int: refused, not guessed
		{`{"ok":false,"error":"uid 5 may not use the agent of uid 0 (pid 1)"}`,
			`ev= id=0 requester=0 target=0 signal=0 status=0 code=0 scope= path= error=uid 5 may not use the agent of uid 0 (pid 1) reply=0/0/0/0/`},
	}
	var in strings.Builder
	for _, g := range good {
		in.WriteString(g.in + "\n")
	}
	hostile := []string{
		strings.Repeat("[", 100000), strings.Repeat(`{"a":`, 5000), `{"ev":"prepare`, `{"path":"\u12"}`, `{"path":"\x"}`,
		`{"id":}`, `{"id":1,}`, `{`, `}`, `"str"`, `{"ev":"done"} trailing`, `{"path":"` + strings.Repeat("x", 60000) + `"}`,
		`{"reply":{"reply":{"reply":{}}}}`, `{"ev":"\ud800"}`, `{"ev":"` + strings.Repeat("\\u0041", 100) + `"}`,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		g := good[rng.IntN(len(good))].in
		b := []byte(g[:rng.IntN(len(g)+1)])
		for j := rng.IntN(4); j > 0 && len(b) > 0; j-- {
			b[rng.IntN(len(b))] = byte(rng.IntN(256))
		}
		hostile = append(hostile, strings.ReplaceAll(string(b), "\n", " "))
	}
	for _, h := range hostile {
		in.WriteString(h + "\n")
	}
	cmd := exec.Command(exe)
	cmd.Stdin = strings.NewReader(in.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crmsg: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(good)+len(hostile) {
		t.Fatalf("%d answers for %d lines", len(lines), len(good)+len(hostile))
	}
	for i, g := range good {
		if lines[i] != g.want {
			t.Errorf("decode %s:\n got %s\nwant %s", g.in, lines[i], g.want)
		}
	}
	for i, h := range hostile[:15] {
		if got := lines[len(good)+i]; got != "bad" && !strings.HasPrefix(h, `{"reply":`) && !strings.HasPrefix(h, `{"path":"x`) && !strings.HasPrefix(h, `{"ev":"`) {
			t.Errorf("hostile line %.40q decoded as %s", h, got)
		}
	}
}
