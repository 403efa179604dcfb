// Package e2e holds the end-to-end tests: real programs (test/progs) are
// checkpointed with bin/cr_checkpoint and restarted with bin/cr_restart, and
// their output must show that they continued where they were.
//
// TestMain builds the commands (CGO_ENABLED=0 go build ./cmd/...) unless
// $STASIS_BIN names a directory that already holds them, compiles the C test
// programs with gcc (their tests skip if gcc is not installed) and builds
// test/progs/gocount. Run with
//
//	go test -count=1 ./test/...                  # everything
//	go test -count=1 -run 'CheckpointRestart/counter/' ./test/
//	STASIS_BIN=$PWD/bin go test -count=1 ./test/
//
// Each program's stdout goes to a regular file in the test's temp dir. A
// restored process reopens that file by path at its saved offset, so after
// a restart the file must still be a single clean sequence "tick 1", "tick
// 2", ... with no gap and no repeat.
package e2e

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if runtime.GOOS != "linux" {
		fmt.Println("e2e: stasis runs on Linux only; skipping")
		os.Exit(0)
	}
	// Whatever started us may have leaked descriptors (a CI runner's
	// pipe on fd 251): Go passes inherited fds without close-on-exec to
	// every child, and a target holding one could not be checkpointed.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: close_range:", err)
		os.Exit(1)
	}
	work, err := os.MkdirTemp("", "stasis-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	setup(work)
	if engineErr != nil {
		fmt.Fprintln(os.Stderr, "e2e: the tests that need the engine will fail:", engineErr)
	}
	if gccErr != nil {
		fmt.Fprintln(os.Stderr, "e2e: SKIPPING the C programs' tests:", gccErr)
	}
	code := m.Run()
	reapOrphans()
	os.RemoveAll(work)
	os.Exit(code)
}

// x86_64 system call numbers, for telling where a process is blocked.
const (
	sysRead           = 0
	sysNanosleep      = 35
	sysFutex          = 202
	sysClockNanosleep = 230
	sysEpollWait      = 232
	sysEpollPwait     = 281
	sysEpollPwait2    = 441
)

var (
	tickLine  = regexp.MustCompile(`^tick (\d+)$`)
	sumTick   = regexp.MustCompile(`^tick (\d+) sum \d+ ok$`)
	stepLine  = regexp.MustCompile(`^step (\d+) sum [0-9a-f]{16} ok$`)
	roundLine = regexp.MustCompile(`^round (\d+) total \d+ locals \d+,\d+,\d+,\d+ ok$`)
	wokeLine  = regexp.MustCompile(`^woke (\d+)$`)
)

// progCase is one test program and how to watch it.
type progCase struct {
	name   string
	argv   func(t *testing.T) []string // may skip the test
	seq    seqSpec
	before int64         // progress lines to see before the first checkpoint
	after  int64         // more lines to see after each restart
	wait   time.Duration // limit for each wait and each command
	only   string        // run only in this scenario ("": in all)

	// If set, checkpoint only once the main thread is blocked in one of
	// these system calls.
	blockedIn string
	nrs       []int
}

func (pc progCase) n(lines int64) int64 { return lines * pc.seq.stride }

func progArgv(name string, args ...string) func(t *testing.T) []string {
	return func(t *testing.T) []string { return append([]string{prog(t, name)}, args...) }
}

func progCases() []progCase {
	const wait = 30 * time.Second
	return []progCase{
		{name: "counter", argv: progArgv("counter"), seq: seqSpec{tickLine, 1}, before: 10, after: 10, wait: wait},
		{name: "counter-static", argv: progArgv("counter-static"), seq: seqSpec{tickLine, 1}, before: 10, after: 10, wait: wait},
		{name: "heap-300MiB", argv: progArgv("heap", "300"), seq: seqSpec{stepLine, 1}, before: 5, after: 5,
			wait: 120 * time.Second},
		// 20 000 mappings, each checked for contents and layout by the
		// program every step (a restart used to scan them per pages record).
		{name: "maps-20000", argv: progArgv("maps", "20000"), seq: seqSpec{stepLine, 1}, before: 5, after: 5,
			wait: 60 * time.Second},
		{name: "threads", argv: progArgv("threads"), seq: seqSpec{roundLine, 100}, before: 5, after: 5, wait: wait},
		{name: "gocount", argv: progArgv("gocount"), seq: seqSpec{sumTick, 1}, before: 10, after: 10, wait: wait},
		{name: "python", argv: func(t *testing.T) []string {
			return []string{python(t), "-u", filepath.Join(repoRoot, "test", "progs", "count.py")}
		}, seq: seqSpec{sumTick, 1}, before: 10, after: 10, wait: wait},
	}
}

var scenarios = []struct {
	name string
	run  func(hh *h, pc progCase, argv []string)
}{
	{"kill", scenarioKill},
	{"run-twice", scenarioRunTwice},
	{"generations", scenarioGenerations},
}

// TestProgramsStandalone checks the test programs themselves, without the
// engine: each runs, prints a clean sequence, and is killed.
func TestProgramsStandalone(t *testing.T) {
	for _, pc := range progCases() {
		if pc.only != "" {
			continue
		}
		t.Run(pc.name, func(t *testing.T) {
			argv := pc.argv(t)
			hh := newH(t)
			out := hh.path("out.txt")
			p := hh.startProg(pc.name, argv, out)
			hh.waitSeq(out, pc.seq, pc.n(pc.before), pc.wait, p)
			p.kill()
			hh.waitReaped(p, "SIGKILL")
			hh.verifySeq(out, pc.seq, pc.n(pc.before))
		})
	}
}

// TestCheckpointRestart runs every program through every scenario.
func TestCheckpointRestart(t *testing.T) {
	for _, pc := range progCases() {
		t.Run(pc.name, func(t *testing.T) {
			for _, sc := range scenarios {
				if pc.only != "" && pc.only != sc.name {
					continue
				}
				t.Run(sc.name, func(t *testing.T) {
					argv := pc.argv(t)
					needEngine(t)
					sc.run(newH(t), pc, argv)
				})
			}
		})
	}
}

// scenarioKill: checkpoint --kill, then restart; the output continues.
func scenarioKill(hh *h, pc progCase, argv []string) {
	hh.t.Helper()
	out := hh.path("out.txt")
	p := hh.startProg(pc.name, argv, out)
	pid := p.pid
	hh.waitSeq(out, pc.seq, pc.n(pc.before), pc.wait, p)
	if pc.blockedIn != "" {
		hh.waitSyscall(pid, pid, pc.blockedIn, pc.nrs...)
	}
	img := hh.path("1.img")
	hh.checkpoint("--kill", pid, img, pc.wait)
	hh.waitReaped(p, "after cr_checkpoint --kill")
	last := hh.lastSeq(out, pc.seq)
	hh.t.Logf("checkpointed at %d", last)

	r := hh.restart("restart", img, pid, nil)
	hh.waitSeq(out, pc.seq, last+pc.n(pc.after), pc.wait, r)
	hh.waitRestored(pid, r, pc.wait)
	hh.stopRestored(pid, r)
	hh.verifySeq(out, pc.seq, last+pc.n(pc.after))
}

// scenarioRunTwice: two --run checkpoints while the program keeps going,
// then the original is killed and the second image restarted. The restored
// process rewrites, from its saved offset, the same bytes the original
// wrote after that checkpoint, and then goes on past them.
func scenarioRunTwice(hh *h, pc progCase, argv []string) {
	hh.t.Helper()
	out := hh.path("out.txt")
	p := hh.startProg(pc.name, argv, out)
	pid := p.pid
	last := hh.waitSeq(out, pc.seq, pc.n(pc.before), pc.wait, p)
	for i := 1; i <= 2; i++ {
		hh.checkpoint("--run", pid, hh.path(fmt.Sprintf("%d.img", i)), pc.wait)
		if p.exited() {
			hh.t.Fatalf("cr_checkpoint --run: the process did not keep running\n%s", p.describe())
		}
		// It must go on by itself after a --run checkpoint.
		last = hh.waitSeq(out, pc.seq, last+pc.n(pc.after), pc.wait, p)
	}
	p.kill()
	hh.waitReaped(p, "SIGKILL")
	last = hh.lastSeq(out, pc.seq)
	hh.t.Logf("original killed at %d", last)

	r := hh.restart("restart", hh.path("2.img"), pid, nil)
	hh.waitRestored(pid, r, pc.wait)
	hh.waitSeq(out, pc.seq, last+pc.n(pc.after), pc.wait, r)
	hh.stopRestored(pid, r)
	hh.verifySeq(out, pc.seq, last+pc.n(pc.after))
}

// scenarioGenerations: checkpoint --kill, restart, checkpoint --kill the
// restored process (same pid), restart again.
func scenarioGenerations(hh *h, pc progCase, argv []string) {
	hh.t.Helper()
	out := hh.path("out.txt")
	p := hh.startProg(pc.name, argv, out)
	pid := p.pid
	hh.waitSeq(out, pc.seq, pc.n(pc.before), pc.wait, p)
	hh.checkpoint("--kill", pid, hh.path("1.img"), pc.wait)
	hh.waitReaped(p, "after cr_checkpoint --kill")
	last := hh.lastSeq(out, pc.seq)

	for gen := 2; gen <= 3; gen++ {
		img := hh.path(fmt.Sprintf("%d.img", gen-1))
		r := hh.restart(fmt.Sprintf("restart%d", gen), img, pid, nil)
		hh.waitSeq(out, pc.seq, last+pc.n(pc.after), pc.wait, r)
		hh.waitRestored(pid, r, pc.wait)
		if gen == 3 {
			hh.stopRestored(pid, r)
			hh.verifySeq(out, pc.seq, last+pc.n(pc.after))
			return
		}
		hh.checkpoint("--kill", pid, hh.path(fmt.Sprintf("%d.img", gen)), pc.wait)
		// Its child is gone, so cr_restart must exit.
		if !r.wait(10 * time.Second) {
			hh.t.Fatalf("cr_restart still running 10s after its child was checkpointed with --kill\n%s", r.describe())
		}
		if !waitGone(pid, 5*time.Second) {
			st, _ := readStat(pid)
			hh.t.Fatalf("pid %d still exists (%+v) after cr_checkpoint --kill and cr_restart's exit", pid, st)
		}
		last = hh.lastSeq(out, pc.seq)
		hh.t.Logf("generation %d checkpointed at %d", gen, last)
	}
}

// waitRestored waits until pid is cr_restart's live child (see
// checkRestored), failing if cr_restart exits first.
func (hh *h) waitRestored(pid int, r *proc, timeout time.Duration) {
	t := hh.t
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := readStat(pid)
		if err == nil && st.ppid == r.pid && st.state != "Z" {
			hh.checkRestored(pid, r)
			return
		}
		if r.exited() {
			t.Fatalf("cr_restart exited before pid %d was restored as its child\n%s", pid, r.describe())
		}
		if time.Now().After(deadline) {
			hh.checkRestored(pid, r)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRestartExitStatus: cr_restart exits with the restored process's exit
// status, and a program that ends by itself ends where it should.
func TestRestartExitStatus(t *testing.T) {
	counter := prog(t, "counter")
	needEngine(t)
	hh := newH(t)
	seq := seqSpec{tickLine, 1}
	out := hh.path("out.txt")
	p := hh.startProg("counter", []string{counter, "100", "7"}, out)
	pid := p.pid
	hh.waitSeq(out, seq, 10, 30*time.Second, p)
	img := hh.path("1.img")
	hh.checkpoint("--kill", pid, img, 30*time.Second)
	hh.waitReaped(p, "after cr_checkpoint --kill")
	if last := hh.lastSeq(out, seq); last >= 100 {
		t.Fatalf("the counter reached %d before the checkpoint; the test needs it to stop earlier", last)
	}
	r := hh.restart("restart", img, pid, nil)
	if !r.wait(30 * time.Second) {
		t.Fatalf("cr_restart did not exit after the restored counter finished\n%s", r.describe())
	}
	if code := r.state.ExitCode(); code != 7 {
		t.Errorf("cr_restart exited with %s, want exit status 7 (the restored counter's)\n%s", r.state, r.describe())
	}
	if ns := hh.verifySeq(out, seq, 100); ns[len(ns)-1] != 100 {
		t.Errorf("the counter should end at tick 100, got %d", ns[len(ns)-1])
	}
	if !waitGone(pid, 2*time.Second) {
		t.Errorf("pid %d still exists after cr_restart exited", pid)
	}
}

// TestCheckpointModes: after writing the image, --stop leaves the process
// stopped (SIGSTOP) and --term sends it SIGTERM.
func TestCheckpointModes(t *testing.T) {
	counter := prog(t, "counter")
	needEngine(t)
	seq := seqSpec{tickLine, 1}
	t.Run("stop", func(t *testing.T) {
		hh := newH(t)
		out := hh.path("out.txt")
		p := hh.startProg("counter", []string{counter}, out)
		hh.waitSeq(out, seq, 5, wait30, p)
		hh.checkpoint("--stop", p.pid, hh.path("1.img"), wait30)
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := readStat(p.pid)
			if err != nil || p.exited() {
				t.Fatalf("after cr_checkpoint --stop the process is gone: %v\n%s", err, p.describe())
			}
			if st.state == "T" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after cr_checkpoint --stop the process is in state %s, want T (stopped)", st.state)
			}
			time.Sleep(10 * time.Millisecond)
		}
		last := hh.lastSeq(out, seq)
		time.Sleep(300 * time.Millisecond)
		if now := hh.lastSeq(out, seq); now != last {
			t.Fatalf("the stopped process went on printing: tick %d, then %d", last, now)
		}
		syscall.Kill(p.pid, syscall.SIGCONT)
		hh.waitSeq(out, seq, last+5, wait30, p)
	})
	t.Run("term", func(t *testing.T) {
		hh := newH(t)
		out := hh.path("out.txt")
		p := hh.startProg("counter", []string{counter}, out)
		hh.waitSeq(out, seq, 5, wait30, p)
		hh.checkpoint("--term", p.pid, hh.path("1.img"), wait30)
		hh.waitReaped(p, "after cr_checkpoint --term")
		ws, _ := p.state.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("after cr_checkpoint --term the process ended with %s, want SIGTERM", p.state)
		}
	})
}

// TestCrRun: cr_run runs a program as its child and ends with it.
func TestCrRun(t *testing.T) {
	counter := prog(t, "counter")
	hh := newH(t)
	out := hh.path("out.txt")
	p := hh.start("cr_run", []string{bin(t, "cr_run"), counter, "5"}, startOpts{stdout: out})
	if !p.wait(30 * time.Second) {
		t.Fatalf("cr_run counter 5 still running after 30s\n%s", p.describe())
	}
	if !p.state.Success() {
		t.Errorf("cr_run counter 5: %s, want exit status 0\n%s", p.state, p.describe())
	}
	if ns := hh.verifySeq(out, seqSpec{tickLine, 1}, 5); ns[len(ns)-1] != 5 {
		t.Errorf("cr_run counter 5 printed up to tick %d, want 5", ns[len(ns)-1])
	}
}

// TestBlockedSyscalls checkpoints programs blocked in a system call and
// requires that the restored process carries on.
func TestBlockedSyscalls(t *testing.T) {
	wait := 30 * time.Second
	for _, pc := range []progCase{
		{name: "nanosleep", argv: progArgv("syscalls", "nanosleep", "200"), seq: seqSpec{tickLine, 1},
			before: 3, after: 3, wait: wait, blockedIn: "nanosleep", nrs: []int{sysNanosleep, sysClockNanosleep}},
		{name: "futex", argv: progArgv("syscalls", "futex", "300"), seq: seqSpec{wokeLine, 1},
			before: 3, after: 3, wait: wait, blockedIn: "futex", nrs: []int{sysFutex}},
	} {
		t.Run(pc.name, func(t *testing.T) {
			argv := pc.argv(t)
			needEngine(t)
			scenarioKill(newH(t), pc, argv)
		})
	}
	t.Run("read", func(t *testing.T) { testBlockedRead(t, "read") })
	t.Run("epoll", testBlockedEpoll)
	t.Run("epollnest", func(t *testing.T) { testBlockedRead(t, "epollnest") })
}

// testBlockedRead: the program waits in read(2) on a pipe, or with mode
// epollnest in epoll_wait on an epoll instance that watches one with a
// higher fd number, which watches the pipe; after the restart that pipe
// is cr_restart's stdin, and a line written there must reach the restored
// process.
func testBlockedRead(t *testing.T, mode string) {
	syscalls := prog(t, "syscalls")
	needEngine(t)
	hh := newH(t)
	out := hh.path("out.txt")
	expect := func(want string) func([]byte) (bool, error) {
		return func(data []byte) (bool, error) {
			s := string(data)
			if s == want {
				return true, nil
			}
			if !strings.HasPrefix(want, s) {
				return false, fmt.Errorf("output is %q, want %q", s, want)
			}
			return false, nil
		}
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	p := hh.start("syscalls-"+mode, []string{syscalls, mode}, startOpts{stdin: pr, stdout: out})
	pr.Close()
	pid := p.pid
	if _, err := pw.WriteString("one\n"); err != nil {
		t.Fatal(err)
	}
	hh.waitOutput(out, 10*time.Second, `"got one"`, expect("ready\ngot one\n"), p)
	if mode == "read" {
		hh.waitSyscall(pid, pid, "read", sysRead)
	} else {
		hh.waitSyscall(pid, pid, "epoll_wait", sysEpollWait, sysEpollPwait, sysEpollPwait2)
	}
	img := hh.path("1.img")
	hh.checkpoint("--kill", pid, img, wait30)
	hh.waitReaped(p, "after cr_checkpoint --kill")
	pw.Close()

	pr2, pw2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr2.Close(); pw2.Close() })
	r := hh.restart("restart", img, pid, pr2)
	pr2.Close()
	hh.waitRestored(pid, r, wait30)
	if _, err := pw2.WriteString("hello\n"); err != nil {
		t.Fatalf("writing to cr_restart's stdin: %v\n%s", err, r.describe())
	}
	hh.waitOutput(out, wait30, `"got hello"`, expect("ready\ngot one\ngot hello\n"), r)
	// At end of input the program prints "eof" and exits 0; so must
	// cr_restart.
	pw2.Close()
	if !r.wait(10 * time.Second) {
		t.Fatalf("cr_restart did not exit after the restored program saw end of input\n%s", r.describe())
	}
	if !r.state.Success() {
		t.Errorf("cr_restart: %s, want exit status 0\n%s", r.state, r.describe())
	}
	hh.waitOutput(out, time.Second, `"eof"`, expect("ready\ngot one\ngot hello\neof\n"))
}

const wait30 = 30 * time.Second

var (
	timerLine = regexp.MustCompile(`^timer (\d+) exp (\d+) total (\d+)$`)
	eventLine = regexp.MustCompile(`^event (\d+)$`)
)

// epollState checks the epoll program's output: timer wakeups numbered
// 1, 2, ..., each with E >= 1 expirations and total T = previous T + E;
// "event K" numbered 1, 2, ..., event K only after timer 10*K.
func epollState(data []byte, final bool) (timers, events, total int64, err error) {
	text := string(data)
	if i := strings.LastIndexByte(text, '\n'); i+1 < len(text) {
		if final {
			return 0, 0, 0, fmt.Errorf("output ends in a partial line %q", text[i+1:])
		}
		text = text[:i+1]
	}
	lines := strings.Split(text, "\n")
	lines = lines[:len(lines)-1]
	for i, line := range lines {
		if m := timerLine.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			e, _ := strconv.ParseInt(m[2], 10, 64)
			tot, _ := strconv.ParseInt(m[3], 10, 64)
			if n != timers+1 || e < 1 || tot != total+e {
				return timers, events, total, fmt.Errorf("line %d is %q after timer %d total %d\n%s",
					i+1, line, timers, total, excerpt(lines, i))
			}
			timers, total = n, tot
			continue
		}
		if m := eventLine.FindStringSubmatch(line); m != nil {
			k, _ := strconv.ParseInt(m[1], 10, 64)
			if k != events+1 || timers < 10*k {
				return timers, events, total, fmt.Errorf("line %d is %q after event %d and timer %d\n%s",
					i+1, line, events, timers, excerpt(lines, i))
			}
			events = k
			continue
		}
		return timers, events, total, fmt.Errorf("line %d is %q, not a timer or event line\n%s", i+1, line, excerpt(lines, i))
	}
	return timers, events, total, nil
}

// testBlockedEpoll: the program waits in epoll_wait on a timerfd and an
// eventfd; after the restart both must go on firing.
func testBlockedEpoll(t *testing.T) {
	syscalls := prog(t, "syscalls")
	needEngine(t)
	hh := newH(t)
	out := hh.path("out.txt")
	until := func(wantTimers, wantEvents int64) func([]byte) (bool, error) {
		return func(data []byte) (bool, error) {
			timers, events, _, err := epollState(data, false)
			return timers >= wantTimers && events >= wantEvents, err
		}
	}
	p := hh.startProg("syscalls-epoll", []string{syscalls, "epoll"}, out)
	pid := p.pid
	hh.waitOutput(out, wait30, "timer 12 and event 1", until(12, 1), p)
	hh.waitSyscall(pid, pid, "epoll_wait", sysEpollWait, sysEpollPwait, sysEpollPwait2)
	img := hh.path("1.img")
	hh.checkpoint("--kill", pid, img, wait30)
	hh.waitReaped(p, "after cr_checkpoint --kill")
	data, _ := os.ReadFile(out)
	timers, events, total, err := epollState(data, true)
	if err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	t.Logf("checkpointed at timer %d, event %d, %d expirations", timers, events, total)

	r := hh.restart("restart", img, pid, nil)
	hh.waitOutput(out, wait30, fmt.Sprintf("timer %d and event %d", timers+12, events+1),
		until(timers+12, events+1), r)
	hh.waitRestored(pid, r, wait30)
	hh.stopRestored(pid, r)
	data, _ = os.ReadFile(out)
	if _, _, _, err := epollState(data, true); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
}

// ---------------------------------------------------------------------------
// Kernel objects beyond memory and plain files.

// miscChecks are the checks test/progs/misc.c reports in its phase 2, each
// on one "OK NAME ..." or "FAIL NAME ..." line.
var miscChecks = []string{
	"memfd", "deleted-file", "pending-shared", "pending-thread", "caps", "signalfd",
	"timerfd", "timerfd-armed", "posix-timer", "itimer", "memfd-append", "deleted-file-append",
}

var (
	phase2Line = regexp.MustCompile(`^phase2 ppid (\d+)$`)
	checkLine  = regexp.MustCompile(`^(OK|FAIL) (\S+) (.*)$`)
	doneLine   = regexp.MustCompile(`^done OK (\d+) FAIL (\d+)$`)
)

// miscReport is what misc has printed so far.
type miscReport struct {
	ready  bool
	ticks  int64             // the last "tick N"
	phase2 int               // the parent pid it reported in phase 2; 0: not there yet
	checks map[string]string // check name -> "OK detail" or "FAIL detail"
	fails  []string          // the FAIL lines
	done   bool
}

// parseMisc checks the order of misc's output: "ready", "tick 1", "tick 2",
// ... with no gap or repeat, "phase2 ppid P", check lines (and indented
// notes), "done OK n FAIL m" last. A trailing partial line is ignored
// unless final.
func parseMisc(data []byte, final bool) (miscReport, error) {
	rep := miscReport{checks: map[string]string{}}
	text := string(data)
	if i := strings.LastIndexByte(text, '\n'); i+1 < len(text) {
		if final {
			return rep, fmt.Errorf("output ends in a partial line %q", text[i+1:])
		}
		text = text[:i+1]
	}
	lines := strings.Split(text, "\n")
	lines = lines[:len(lines)-1]
	bad := func(i int, want string) error {
		return fmt.Errorf("line %d is %q, want %s\n%s", i+1, lines[i], want, excerpt(lines, i))
	}
	for i, line := range lines {
		switch {
		case rep.done:
			return rep, bad(i, "nothing after the done line")
		case !rep.ready:
			if line != "ready" {
				return rep, bad(i, `"ready"`)
			}
			rep.ready = true
		case rep.phase2 == 0:
			if m := phase2Line.FindStringSubmatch(line); m != nil {
				rep.phase2, _ = strconv.Atoi(m[1])
				continue
			}
			m := tickLine.FindStringSubmatch(line)
			if m == nil {
				return rep, bad(i, `"tick N" or "phase2 ppid P"`)
			}
			if n, _ := strconv.ParseInt(m[1], 10, 64); n != rep.ticks+1 {
				return rep, bad(i, fmt.Sprintf("tick %d (a gap or a repeat: restarted rather than continued?)", rep.ticks+1))
			}
			rep.ticks++
		case strings.HasPrefix(line, "  "):
			// A note about the check above.
		default:
			if m := doneLine.FindStringSubmatch(line); m != nil {
				if m[2] != strconv.Itoa(len(rep.fails)) {
					return rep, bad(i, fmt.Sprintf("FAIL %d (the FAIL lines above)", len(rep.fails)))
				}
				rep.done = true
				continue
			}
			m := checkLine.FindStringSubmatch(line)
			if m == nil {
				return rep, bad(i, `"OK NAME ...", "FAIL NAME ..." or "done ..."`)
			}
			if _, dup := rep.checks[m[2]]; dup {
				return rep, bad(i, "each check once")
			}
			rep.checks[m[2]] = m[1] + " " + m[3]
			if m[1] == "FAIL" {
				rep.fails = append(rep.fails, line)
			}
		}
	}
	return rep, nil
}

// TestMisc: memfds, deleted files, signalfd, timerfds, POSIX timers,
// itimers, queued signals and capabilities survive a checkpoint --kill and
// a restart, as test/progs/misc.c sees them after the restart. The
// selftest runs the same checks without a checkpoint, so that a FAIL in
// restart is the engine's.
func TestMisc(t *testing.T) {
	t.Run("selftest", func(t *testing.T) {
		misc := prog(t, "misc")
		hh := newH(t)
		out := hh.path("out.txt")
		p := hh.startProg("misc", []string{misc, "selftest"}, out)
		hh.waitOutput(out, wait30, `"phase2"`, miscPhase2, p)
		if err := syscall.Kill(p.pid, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		if !p.wait(wait30) {
			t.Fatalf("misc selftest still running 30s after phase 2 began\n%s", p.describe())
		}
		hh.checkMisc(out, p.state, os.Getpid(), 10)
	})
	t.Run("kill-restart", func(t *testing.T) {
		misc := prog(t, "misc")
		needEngine(t)
		hh := newH(t)
		out := hh.path("out.txt")
		p := hh.startProg("misc", []string{misc}, out)
		pid := p.pid
		hh.waitOutput(out, wait30, "tick 5", func(data []byte) (bool, error) {
			rep, err := parseMisc(data, false)
			return rep.ticks >= 5, err
		}, p)
		img := hh.path("1.img")
		hh.checkpoint("--kill", pid, img, wait30)
		hh.waitReaped(p, "after cr_checkpoint --kill")
		data, _ := os.ReadFile(out)
		rep, err := parseMisc(data, true)
		if err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if rep.phase2 != 0 {
			t.Fatalf("misc began its phase 2 before the checkpoint\n%s", indent(tail(data, 10)))
		}
		t.Logf("checkpointed at tick %d", rep.ticks)

		r := hh.restart("restart", img, pid, nil)
		hh.waitRestored(pid, r, wait30)
		// Only now is SIGUSR1 blocked again and the signalfd there.
		hh.waitOutput(out, wait30, `"phase2"`, miscPhase2, r)
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			t.Fatalf("kill(%d, SIGUSR1): %v\n%s", pid, err, r.describe())
		}
		if !r.wait(wait30) {
			t.Fatalf("cr_restart still running 30s after misc began phase 2\n%s", r.describe())
		}
		hh.checkMisc(out, r.state, r.pid, rep.ticks)
	})
}

func miscPhase2(data []byte) (bool, error) {
	rep, err := parseMisc(data, false)
	return rep.phase2 != 0, err
}

// checkMisc requires misc's complete output to report every check OK, the
// SIGUSR1 from us, phase 2 under parent ppid after at least ticks ticks,
// and its exit status (state: its own, or cr_restart's) to be 0.
func (hh *h) checkMisc(out string, state *os.ProcessState, ppid int, ticks int64) {
	t := hh.t
	t.Helper()
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := parseMisc(data, true)
	if err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	for _, line := range rep.fails {
		t.Errorf("misc: %s", line)
	}
	for _, name := range miscChecks {
		if res, ok := rep.checks[name]; !ok {
			t.Errorf("misc printed no OK or FAIL line for %s", name)
		} else {
			t.Logf("%s %s", name, res)
		}
	}
	for name := range rep.checks {
		if !slices.Contains(miscChecks, name) {
			t.Errorf("misc reported an unexpected check %q: %s", name, rep.checks[name])
		}
	}
	if want := fmt.Sprintf("OK SIGUSR1 from pid %d ", os.Getpid()); !strings.HasPrefix(rep.checks["signalfd"], want) {
		t.Errorf("signalfd: %q, want the SIGUSR1 this test sent (%q)", rep.checks["signalfd"], want)
	}
	if !rep.done {
		t.Errorf("misc did not finish (no done line)")
	}
	if rep.phase2 != ppid {
		t.Errorf("misc's phase 2 ran under parent %d, want %d", rep.phase2, ppid)
	}
	if rep.ticks < ticks {
		t.Errorf("misc ticked %d times, want at least %d", rep.ticks, ticks)
	}
	if !state.Success() {
		t.Errorf("exit: %s, want status 0 (1 means a check failed)", state)
	}
	if t.Failed() {
		t.Logf("misc's output:\n%s", indent(string(data)))
	}
}

// ---------------------------------------------------------------------------
// Failures.

// pfKthread is PF_KTHREAD in /proc/PID/stat's flags.
const pfKthread = 0x00200000

// TestCheckpointErrors: cr_checkpoint refuses what it cannot checkpoint,
// says why, and leaves no image behind.
func TestCheckpointErrors(t *testing.T) {
	needEngine(t)
	refuse := func(hh *h, pid string, want ...string) {
		t := hh.t
		t.Helper()
		img := hh.path("x.img")
		var r result
		if pid == "" {
			r = hh.run(wait30, bin(t, "cr_checkpoint"))
		} else {
			r = hh.run(wait30, bin(t, "cr_checkpoint"), "-f", img, pid)
		}
		if r.code == 0 || r.timedOut {
			t.Fatalf("want a non-zero exit\n%s", r)
		}
		if strings.TrimSpace(r.stderr) == "" {
			t.Errorf("no message on stderr\n%s", r)
		}
		for _, w := range want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("stderr should mention %q\n%s", w, r)
			}
		}
		if _, err := os.Stat(img); err == nil {
			t.Errorf("a failed checkpoint left an image file %s", img)
		}
	}
	t.Run("usage", func(t *testing.T) { refuse(newH(t), "") })
	t.Run("no-such-pid", func(t *testing.T) {
		pid := strconv.Itoa(unusedPid(t))
		refuse(newH(t), pid, pid)
	})
	t.Run("kernel-thread", func(t *testing.T) {
		pid := 2
		if st, err := readStat(pid); err != nil || st.flags&pfKthread == 0 {
			pid = 0
			for p, st := range allStats() {
				if st.flags&pfKthread != 0 {
					pid = p
					break
				}
			}
		}
		if pid == 0 {
			t.Skip("no kernel thread is visible in this pid namespace")
		}
		before, _ := readStat(pid)
		refuse(newH(t), strconv.Itoa(pid))
		if after, err := readStat(pid); err != nil || after.comm != before.comm {
			t.Errorf("kernel thread %d (%s) changed: %+v, %v", pid, before.comm, after, err)
		}
	})
}

// TestRestartErrors: cr_restart rejects missing and damaged images with a
// message, a non-zero exit and nothing left running; the good image they
// were made from still restores afterwards.
func TestRestartErrors(t *testing.T) {
	counter := prog(t, "counter")
	needEngine(t)
	top := newH(t)
	seq := seqSpec{tickLine, 1}
	out := top.path("out.txt")
	p := top.startProg("counter", []string{counter}, out)
	pid := p.pid
	top.waitSeq(out, seq, 5, wait30, p)
	goodImg := top.path("good.img")
	top.checkpoint("--kill", pid, goodImg, wait30)
	top.waitReaped(p, "after cr_checkpoint --kill")
	last := top.lastSeq(out, seq)
	good, err := os.ReadFile(goodImg)
	if err != nil {
		t.Fatal(err)
	}
	if len(good) < 64 {
		t.Fatalf("the image is only %d bytes", len(good))
	}

	edit := func(f func(b []byte) []byte) func() []byte {
		return func() []byte { return f(append([]byte(nil), good...)) }
	}
	for _, c := range []struct {
		name  string
		image func() []byte // nil: the file does not exist
		want  []string      // stderr must contain one of these (case-insensitive)
	}{
		{name: "missing-file", want: []string{"missing-file.img"}},
		{name: "empty", image: func() []byte { return nil }},
		{name: "truncated", image: edit(func(b []byte) []byte { return b[:len(b)/2] })},
		{name: "flipped-byte", image: edit(func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b })},
		{name: "version-99", image: edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8:12], 99)
			return b
		}), want: []string{"version"}},
		{name: "arch-183", image: edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[12:16], 183)
			return b
		}), want: []string{"arch", "machine"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hh := newH(t)
			img := hh.path(c.name + ".img")
			if c.image != nil {
				if err := os.WriteFile(img, c.image(), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			stderr := hh.failRestart(img, pid, out)
			if len(c.want) > 0 && !t.Failed() {
				found := false
				for _, w := range c.want {
					found = found || strings.Contains(strings.ToLower(stderr), w)
				}
				if !found {
					t.Errorf("cr_restart's message should mention %s; it was:\n%s",
						strings.Join(c.want, " or "), indent(stderr))
				}
			}
		})
	}

	t.Run("good-image-still-restores", func(t *testing.T) {
		hh := newH(t)
		r := hh.restart("restart", goodImg, pid, nil)
		hh.waitSeq(out, seq, last+10, wait30, r)
		hh.waitRestored(pid, r, wait30)
		hh.stopRestored(pid, r)
		hh.verifySeq(out, seq, last+10)
	})
}

// failRestart runs cr_restart on an image that must be refused and returns
// its stderr. The restored pid must not exist afterwards, the program's
// output must not have grown, and nothing may be left running.
func (hh *h) failRestart(img string, pid int, out string) string {
	t := hh.t
	t.Helper()
	size := func() int64 {
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	r := hh.restart("restart", img, pid, nil)
	deadline := time.Now().Add(wait30)
	for !r.exited() {
		if size() != before {
			t.Errorf("cr_restart restored a process from a bad image: its output grew")
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("cr_restart still running after %v", wait30)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	killed := !r.exited()
	if killed {
		killRestored(pid, r.pid)
		r.kill()
		r.wait(10 * time.Second)
	}
	stderr, _ := os.ReadFile(r.stderr)
	if killed {
		// Already failed; its exit status and message mean nothing.
	} else if r.state.Success() {
		t.Errorf("cr_restart %s exited 0, want a non-zero exit\n%s", filepath.Base(img), r.describe())
	} else if strings.TrimSpace(string(stderr)) == "" {
		t.Errorf("cr_restart %s: %s with no message on stderr", filepath.Base(img), r.state)
	}
	if !waitGone(pid, 2*time.Second) {
		st, _ := readStat(pid)
		t.Errorf("pid %d exists after the failed restart: %+v", pid, st)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, d := range descendants(os.Getpid()) {
		st, _ := readStat(d)
		t.Errorf("stray process after the failed restart: pid %d (%s), parent %d", d, st.comm, st.ppid)
	}
	t.Logf("cr_restart %s: %s: %s", filepath.Base(img), r.state, strings.TrimSpace(string(stderr)))
	return string(stderr)
}
