package e2e

// cr_restart's BLCR options: --relocate, the --run-on-* hooks with BLCR's
// failure classes and exit statuses, -q, --omit-*, --kmsg-*.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// restartWith starts cr_restart with args (the image among them) in the
// background; the restored pid is killed at cleanup.
func (hh *h) restartWith(name string, origPid int, args ...string) *proc {
	hh.t.Helper()
	r := hh.start(name, append([]string{bin(hh.t, "cr_restart")}, args...), startOpts{})
	hh.t.Cleanup(func() { killRestored(origPid, r.pid) })
	return r
}

// mustFail runs cr_restart with args, which must fail with status want
// and leave no process with pid running; it returns stderr.
func (hh *h) mustFail(pid, want int, args ...string) string {
	t := hh.t
	t.Helper()
	r := hh.run(wait30, append([]string{bin(t, "cr_restart")}, args...)...)
	if r.code != want {
		t.Errorf("want exit %d:\n%s", want, r)
	}
	if st, err := readStat(pid); err == nil && st.state != "Z" {
		t.Errorf("pid %d is running after a failed restart (state %s)", pid, st.state)
	}
	return r.stderr
}

func TestRestartOptions(t *testing.T) {
	counter := prog(t, "counter")
	needEngine(t)
	top := newH(t)
	seq := seqSpec{tickLine, 1}

	// The counter writes into a data directory, which then moves.
	data := filepath.Join(top.dir, "run=3")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(data, "counter.out")
	p := top.startProg("counter", []string{counter}, out)
	pid := p.pid
	top.waitSeq(out, seq, 5, wait30, p)
	img := top.path("c.img")
	top.checkpoint("--kill", pid, img, wait30)
	top.waitReaped(p, "after cr_checkpoint --kill")
	last := top.lastSeq(out, seq)
	moved := filepath.Join(top.dir, "scratch")
	if err := os.Rename(data, moved); err != nil {
		t.Fatal(err)
	}
	marker := top.path("hook-ran")
	hook := func(what string, status int) string {
		return "echo " + what + " >> " + marker + "; exit " + strconv.Itoa(status)
	}
	ran := func() string {
		b, _ := os.ReadFile(marker)
		os.Remove(marker)
		return strings.TrimSpace(string(b))
	}

	t.Run("missing-file-env", func(t *testing.T) {
		hh := newH(t)
		stderr := hh.mustFail(pid, 2, "--run-on-fail-env="+hook("env", 0), "--run-on-fail-perm="+hook("perm", 0), img)
		if got := ran(); got != "env" {
			t.Errorf("hooks run: %q, want the ENV hook only", got)
		}
		if !strings.Contains(stderr, "run=3/counter.out") || !strings.Contains(stderr, "use --relocate?") {
			t.Errorf("the message should name the missing file and suggest --relocate:\n%s", stderr)
		}
		hh.mustFail(pid, 7, "--run-on-failure="+hook("any", 7), img)
		if got := ran(); got != "any" {
			t.Errorf("--run-on-failure: hooks run: %q", got)
		}
		// A later --run-on-fail-env overrides --run-on-failure.
		hh.mustFail(pid, 9, "--run-on-failure="+hook("any", 7), "--run-on-fail-env", hook("env", 9), img)
		if got := ran(); got != "env" {
			t.Errorf("later --run-on-fail-env: hooks run: %q", got)
		}
		if stderr := hh.mustFail(pid, 2, "-q", img); stderr != "" {
			t.Errorf("-q: cr_restart still wrote:\n%s", stderr)
		}
	})

	t.Run("args-and-perm", func(t *testing.T) {
		hh := newH(t)
		hh.mustFail(pid, 5, "--no-such-option", "--run-on-fail-args="+hook("args", 5), img)
		hh.mustFail(pid, 22, "--run-on-fail-args="+hook("args", 0), "--relocate=/a", img)
		hh.mustFail(pid, 22, "--run-on-fail-args="+hook("args", 0), "--omit-never", img)
		if got := ran(); got != "args\nargs\nargs" {
			t.Errorf("ARGS hooks run: %q", got)
		}
		damaged := hh.path("damaged.img")
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(damaged, b, 0o600); err != nil {
			t.Fatal(err)
		}
		hh.mustFail(pid, 22, "--run-on-fail-perm="+hook("perm", 0), "--run-on-fail-env="+hook("env", 0),
			"--relocate="+strings.ReplaceAll(data, "=", `\=`)+"="+moved, damaged)
		if got := ran(); got != "perm" {
			t.Errorf("damaged image: hooks run: %q, want the PERM hook only", got)
		}
	})

	t.Run("relocate", func(t *testing.T) {
		hh := newH(t)
		r := hh.restartWith("restart", pid, "--kmsg-warning", "--omit-always", "--no-restore-pgid",
			"--run-on-success="+hook("success", 0), `--relocate=/nowhere=/else`,
			`--relocate=`+strings.ReplaceAll(data, "=", `\=`)+"="+moved, img)
		newOut := filepath.Join(moved, "counter.out")
		hh.waitSeq(newOut, seq, last+10, wait30, r)
		hh.waitRestored(pid, r, wait30)
		if got := ran(); got != "success" {
			t.Errorf("--run-on-success: hooks run: %q", got)
		}
		if cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd"); err != nil || cwd != top.dir {
			t.Errorf("cwd after restart: %q, %v; want %s", cwd, err, top.dir)
		}
		hh.stopRestored(pid, r)
		hh.verifySeq(newOut, seq, last+10)
	})

	t.Run("success-hook-status", func(t *testing.T) {
		// BLCR: a success hook that exits non-zero becomes cr_restart's
		// status, and the restored process runs on without it.
		hh := newH(t)
		r := hh.run(wait30, bin(t, "cr_restart"), "--relocate="+strings.ReplaceAll(data, "=", `\=`)+"="+moved,
			"--run-on-success="+hook("success", 3), img)
		defer killRestored(pid, os.Getpid())
		if r.code != 3 {
			t.Fatalf("want exit 3:\n%s", r)
		}
		st, err := readStat(pid)
		if err != nil || st.state == "Z" {
			t.Fatalf("the restored process is not running after the success hook: %v", err)
		}
		// It rewrites what the earlier restart wrote after the checkpoint,
		// then goes past it.
		newOut := filepath.Join(moved, "counter.out")
		hh.waitSeq(newOut, seq, hh.lastSeq(newOut, seq)+5, wait30)
	})

	t.Run("working-directory", func(t *testing.T) {
		hh := newH(t)
		sub := hh.path("wd")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		out := hh.path("wd.out")
		p := hh.startProg("counter", []string{"/bin/sh", "-c", "cd wd && exec " + counter}, out)
		hh.waitSeq(out, seq, 3, wait30, p)
		img := hh.path("wd.img")
		hh.checkpoint("--kill", p.pid, img, wait30)
		hh.waitReaped(p, "after cr_checkpoint --kill")
		last := hh.lastSeq(out, seq)
		if err := os.Rename(sub, sub+"2"); err != nil {
			t.Fatal(err)
		}
		if stderr := hh.mustFail(p.pid, 2, img); !strings.Contains(stderr, "working directory "+sub) {
			t.Errorf("the message should name the missing working directory:\n%s", stderr)
		}
		r := hh.restartWith("restart", p.pid, "--relocate", sub+"="+sub+"2", img)
		hh.waitSeq(out, seq, last+5, wait30, r)
		if cwd, err := os.Readlink("/proc/" + strconv.Itoa(p.pid) + "/cwd"); err != nil || cwd != sub+"2" {
			t.Errorf("cwd after restart: %q, %v; want %s2", cwd, err, sub)
		}
		hh.stopRestored(p.pid, r)
	})

	t.Run("ordinary-user", func(t *testing.T) {
		// The same flows for uid 65534, whose restart runs in namespaces
		// of its own: an ENV failure with its hook, then --relocate and
		// --run-on-success.
		hh := newH(t)
		as := hh.nobody()
		data := hh.path("data")
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chown(data, 65534, 65534)
		out := filepath.Join(data, "counter.out")
		p := hh.startNobody("counter", []string{counter}, out)
		hh.waitSeq(out, seq, 5, wait30, p)
		img := hh.path("u.img")
		hh.killCkpt(as, p, img)
		last := hh.lastSeq(out, seq)
		moved := hh.path("moved")
		if err := os.Rename(data, moved); err != nil {
			t.Fatal(err)
		}
		marker := hh.path("hook-ran") // hh.dir is writable by all (nobody)
		r := hh.run(wait30, append(as, bin(t, "cr_restart"), "--run-on-fail-env=echo env > "+marker+"; exit 0", img)...)
		if r.code != 2 || !strings.Contains(r.stderr, "use --relocate?") {
			t.Errorf("want exit 2 naming the missing file:\n%s", r)
		}
		if b, _ := os.ReadFile(marker); strings.TrimSpace(string(b)) != "env" {
			t.Errorf("the ENV hook did not run for uid 65534 (marker %q)", b)
		}
		rs := hh.restartAs("cr_restart", as, "--relocate="+data+"="+moved, "--run-on-success=echo ok > "+marker, img)
		hh.t.Cleanup(func() { rs.kill() })
		newOut := filepath.Join(moved, "counter.out")
		hh.waitSeq(newOut, seq, last+5, wait30, rs)
		if b, _ := os.ReadFile(marker); strings.TrimSpace(string(b)) != "ok" {
			t.Errorf("the success hook did not run for uid 65534 (marker %q)", b)
		}
		hh.verifySeq(newOut, seq, last+5)
	})
}

// TestRestartSourcesAndSignalsUnprivileged: cr_restart's sources and
// signal options for an ordinary user (whose restart runs in namespaces of
// its own): -F 0 from stdin, -f, --stop then SIGCONT, --kill, -S.
func TestRestartSourcesAndSignalsUnprivileged(t *testing.T) {
	counter := prog(t, "counter")
	needEngine(t)
	hh := newH(t)
	as := hh.nobody()
	seq := seqSpec{tickLine, 1}
	out := hh.path("out.txt")
	p := hh.startNobody("counter", []string{counter}, out)
	hh.waitSeq(out, seq, 5, wait30, p)
	img := hh.path("c.img")
	hh.killCkpt(as, p, img)
	os.Chmod(img, 0o444) // the restarts below read it through stdin too

	restart := func(name string, stdin *os.File, args ...string) *proc {
		r := hh.start(name, append(append(as[:len(as):len(as)], bin(t, "cr_restart")), args...), startOpts{stdin: stdin})
		t.Cleanup(func() { r.kill() })
		return r
	}
	// Each restart rewrites what the one before wrote after the
	// checkpoint; waiting for a tick past the highest so far proves it
	// counts on.
	goesOn := func(r *proc) {
		t.Helper()
		hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, r)
		r.kill()
		r.wait(10 * time.Second)
	}

	t.Run("stdin", func(t *testing.T) {
		f, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		goesOn(restart("from-stdin", f, "-F", "0"))
	})
	t.Run("file", func(t *testing.T) { goesOn(restart("from-file", nil, "-f", img)) })
	t.Run("stop", func(t *testing.T) {
		r := restart("stopped", nil, "--stop", img)
		var job int
		for deadline := time.Now().Add(wait30); ; time.Sleep(20 * time.Millisecond) {
			for _, d := range descendants(r.pid) {
				if st, err := readStat(d); err == nil && st.state == "T" && st.comm == "counter" {
					job = d
				}
			}
			if job != 0 {
				break
			}
			if time.Now().After(deadline) || r.exited() {
				t.Fatalf("no stopped counter below cr_restart --stop\n%s", r.describe())
			}
		}
		before := hh.lastSeq(out, seq)
		time.Sleep(200 * time.Millisecond)
		if now := hh.lastSeq(out, seq); now != before {
			t.Fatalf("the counter counted while stopped (%d, then %d)", before, now)
		}
		syscall.Kill(job, syscall.SIGCONT)
		goesOn(r)
	})
	t.Run("restore-pgid", func(t *testing.T) {
		// The counter led its process group; with --restore-pgid it leads
		// one again (in the restart's pid namespace; seen from here, its
		// group bears its pid as we see it).
		r := restart("groups", nil, "--restore-pgid", "--restore-sid", img)
		hh.waitSeq(out, seq, hh.lastSeq(out, seq)+2, wait30, r)
		var job int
		for _, d := range descendants(r.pid) {
			if st, err := readStat(d); err == nil && st.comm == "counter" {
				job = d
			}
		}
		if st, err := readStat(job); err != nil || st.pgid != job {
			t.Errorf("restored counter %d: pgid %d (%v), want its own group", job, st.pgid, err)
		}
		goesOn(r)
	})
	t.Run("kill", func(t *testing.T) {
		endedBy(t, restart("killed", nil, "--kill", img), syscall.SIGKILL)
	})
	t.Run("signal", func(t *testing.T) {
		endedBy(t, restart("signalled", nil, "-S", strconv.Itoa(int(syscall.SIGTERM)), img), syscall.SIGTERM)
	})
}
