package e2e

// The harness: building what the tests run, starting and watching
// processes, parsing their output, and making sure nothing is left behind.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// What TestMain built. A nil error means the thing is ready to use.
var (
	repoRoot string // the module root

	binDir    string // cr_checkpoint, cr_restart, cr_run, cr_info
	engineErr error

	progDir  string // compiled test programs
	gccErr   error  // gcc is not installed: the C programs are skipped
	progErrs = map[string]error{}

	pythonExe string // the real interpreter behind python3 on PATH
	pythonErr error
)

const (
	prSetChildSubreaper = 36
)

// setup builds everything into work. It never fails by itself: what could
// not be built is recorded, and the tests that need it fail (or, for a
// missing gcc or python3, skip) with the reason.
func setup(work string) {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	repoRoot = filepath.Dir(wd) // go test runs in the package directory, test/

	// Become a child subreaper: whatever cr_restart or the restored
	// processes leave behind is reparented to us, so we can see it, fail
	// the test for it, kill it and reap it.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		fmt.Fprintf(os.Stderr, "e2e: PR_SET_CHILD_SUBREAPER: %v (stray processes may go unnoticed)\n", e)
	}

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); buildEngine(work) }()
	go func() { defer wg.Done(); buildPrograms(work) }()
	go func() { defer wg.Done(); findPython() }()
	wg.Wait()
}

func buildEngine(work string) {
	if dir := os.Getenv("STASIS_BIN"); dir != "" {
		binDir, engineErr = filepath.Abs(dir)
		if engineErr != nil {
			return
		}
		for _, name := range []string{"cr_checkpoint", "cr_restart", "cr_run", "cr_info"} {
			if _, err := exec.LookPath(filepath.Join(binDir, name)); err != nil {
				engineErr = fmt.Errorf("STASIS_BIN=%s: %v", dir, err)
				return
			}
		}
		return
	}
	binDir = filepath.Join(work, "bin")
	out, err := goCmd("build", "-o", binDir+"/", "./cmd/cr_checkpoint", "./cmd/cr_restart", "./cmd/cr_run", "./cmd/cr_info").CombinedOutput()
	if err != nil {
		engineErr = fmt.Errorf("building cr_checkpoint, cr_restart, cr_run, cr_info (CGO_ENABLED=0 go build ./cmd/...): %v\n%s", err, out)
	}
}

func goCmd(args ...string) *exec.Cmd {
	goExe, err := exec.LookPath("go")
	if err != nil {
		goExe = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goExe, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}

// cPrograms: output name, source, extra gcc flags.
var cPrograms = []struct {
	name, src string
	flags     []string
}{
	{"counter", "counter.c", nil},
	{"counter-static", "counter.c", []string{"-static"}},
	{"heap", "heap.c", nil},
	{"threads", "threads.c", []string{"-pthread"}},
	{"hung", "hung.c", []string{"-pthread", "-O0"}},
	{"syscalls", "syscalls.c", []string{"-pthread"}},
	{"misc", "misc.c", nil},
	{"uring", "uring.c", nil},
	{"workers", "workers.c", nil},
	{"forker", "forker.c", nil},
	{"forkfds", "forkfds.c", nil},
	{"steady", "steady.c", nil},
	{"heaptree", "heaptree.c", nil},
	{"sockpair", "sockpair.c", nil},
	{"listen", "listen.c", nil},
	{"dgram", "dgram.c", nil},
	{"tcppair", "tcppair.c", nil},
	{"bigqueue", "bigqueue.c", nil},
	{"ids", "ids.c", []string{"-pthread"}},
	{"sharers", "sharers.c", nil},
	{"manyfds", "manyfds.c", nil},
	{"mainexit", "mainexit.c", []string{"-pthread"}},
	{"cowheap", "cowheap.c", nil},
	{"pagemix", "pagemix.c", nil},
	{"reaper", "reaper.c", nil},
	{"cowshm", "cowshm.c", nil},
	{"alarm", "alarm.c", nil},
	{"squat", "squat.c", nil},
	{"nosocket", "nosocket.c", nil},
	{"selfcheck", "selfcheck.c", nil},
	{"sysvipc", "sysvipc.c", nil},
	{"mqueue", "mqueue.c", nil},
	{"watch", "watch.c", nil},
	{"unixq", "unixq.c", nil},
	{"maps", "maps.c", nil},
}

func buildPrograms(work string) {
	progDir = filepath.Join(work, "progs")
	if err := os.MkdirAll(progDir, 0o755); err != nil {
		panic(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		gccErr = fmt.Errorf("gcc is not installed (%v): the C test programs cannot be built", err)
	} else {
		for _, p := range cPrograms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				args := []string{"-O2", "-g", "-Wall", "-o", filepath.Join(progDir, p.name)}
				args = append(args, p.flags...)
				args = append(args, filepath.Join(repoRoot, "test", "progs", p.src))
				out, err := exec.Command(gcc, args...).CombinedOutput()
				if err != nil {
					err = fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
					if p.name == "counter-static" {
						err = fmt.Errorf("%w\n(static linking needs the static C library: libc6-dev on Debian)", err)
					}
				}
				mu.Lock()
				progErrs[p.name] = err
				mu.Unlock()
			}()
		}
	}
	goErrs := map[string]error{}
	for _, name := range goPrograms {
		out, err := goCmd("build", "-o", filepath.Join(progDir, name), "./test/progs/"+name).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build ./test/progs/%s: %v\n%s", name, err, out)
		}
		goErrs[name] = err
	}
	wg.Wait()
	for name, err := range goErrs {
		progErrs[name] = err
	}
}

// goPrograms are the Go test programs, each a directory of test/progs.
var goPrograms = []string{"gocount", "libcrprog", "gohttp"}

func findPython() {
	py, err := exec.LookPath("python3")
	if err != nil {
		pythonErr = fmt.Errorf("python3 is not on PATH: %v", err)
		return
	}
	// Run the interpreter itself, not a wrapper such as a pyenv shim.
	out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output()
	if exe := strings.TrimSpace(string(out)); err == nil && exe != "" {
		py = exe
	}
	pythonExe = py
}

// needEngine fails the test if the commands under test could not be built.
func needEngine(t *testing.T) {
	t.Helper()
	if engineErr != nil {
		t.Fatalf("cr_checkpoint, cr_restart and cr_run are not available (see the start of the output): %s",
			strings.SplitN(engineErr.Error(), "\n", 2)[0])
	}
}

// bin returns the path of one of the commands under test.
func bin(t *testing.T, name string) string {
	t.Helper()
	needEngine(t)
	return filepath.Join(binDir, name)
}

// prog returns the path of a compiled test program.
func prog(t *testing.T, name string) string {
	t.Helper()
	err, built := progErrs[name]
	switch {
	case !built && gccErr != nil:
		t.Skip(gccErr)
	case !built:
		t.Fatalf("no test program %q", name)
	case err != nil:
		t.Fatal(err)
	}
	return filepath.Join(progDir, name)
}

func python(t *testing.T) string {
	t.Helper()
	if pythonErr != nil {
		t.Skip(pythonErr)
	}
	return pythonExe
}

// ---------------------------------------------------------------------------
// Processes.

// proc is a process the test started. Its stdout and stderr go to files.
type proc struct {
	name   string
	cmd    *exec.Cmd
	pid    int
	stdout string
	stderr string
	done   chan struct{} // closed once Wait has returned
	state  *os.ProcessState
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the process to end; it reports whether it did.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// kill kills the process and its process group: the group may outlive
// its leader (the restored stages of a pipeline, say).
func (p *proc) kill() {
	syscall.Kill(-p.pid, syscall.SIGKILL)
	if !p.exited() {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// describe says how the process ended (or that it has not) and what it
// wrote to stderr, for failure messages.
func (p *proc) describe() string {
	status := "still running"
	if p.exited() {
		status = p.state.String()
	}
	errText, _ := os.ReadFile(p.stderr)
	return fmt.Sprintf("%s (pid %d, %s): %s\nits stderr:\n%s", p.name, p.pid, status,
		strings.Join(p.cmd.Args, " "), indent(string(errText)))
}

// h is the per-test harness.
type h struct {
	t   *testing.T
	dir string
}

func newH(t *testing.T) *h {
	t.Helper()
	hh := &h{t: t, dir: t.TempDir()}
	// Registered first, so it runs last: after every tracked process
	// has been killed and reaped, and before the temp dir is removed.
	t.Cleanup(hh.sweep)
	return hh
}

func (hh *h) path(name string) string { return filepath.Join(hh.dir, name) }

type startOpts struct {
	stdin  *os.File   // nil: /dev/null
	stdout string     // a file to write (created, truncated); "": NAME.stdout
	setsid bool       // lead a new session (and group) instead of a new group
	append bool       // append to stdout instead of truncating it
	extra  []*os.File // fds 3, 4...
}

// start starts argv in its own process group; t.Cleanup kills it.
func (hh *h) start(name string, argv []string, o startOpts) *proc {
	t := hh.t
	t.Helper()
	if o.stdout == "" {
		o.stdout = hh.path(name + ".stdout")
	}
	p := &proc{name: name, stdout: o.stdout, stderr: hh.path(name + ".stderr"), done: make(chan struct{})}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if o.append {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	outF, err := os.OpenFile(p.stdout, flags, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer outF.Close()
	errF, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer errF.Close()

	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = hh.dir
	p.cmd.Stdout = outF
	p.cmd.Stderr = errF
	if o.stdin != nil {
		p.cmd.Stdin = o.stdin
	}
	p.cmd.ExtraFiles = o.extra
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !o.setsid, Setsid: o.setsid}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p.pid = p.cmd.Process.Pid
	go func() {
		p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if !p.wait(10 * time.Second) {
			t.Errorf("%s (pid %d) did not die within 10s of SIGKILL", name, p.pid)
		}
		waitGroupGone(p.pid, 10*time.Second)
	})
	return p
}

// counting starts test/progs/counter with its stdout to counter.out and
// waits until it has counted to atLeast.
func (hh *h) counting(atLeast int64) (*proc, string) {
	hh.t.Helper()
	out := hh.path("counter.out")
	p := hh.startProg("counter", []string{prog(hh.t, "counter")}, out)
	hh.waitSeq(out, seqSpec{tickLine, 1}, atLeast, wait30, p)
	return p, out
}

// startProg starts a test program with its stdout to out.
func (hh *h) startProg(name string, argv []string, out string) *proc {
	hh.t.Helper()
	return hh.start(name, argv, startOpts{stdout: out})
}

// result is the outcome of running one of the commands to completion.
type result struct {
	args     []string
	code     int // exit status, -1 if killed by a signal
	stdout   string
	stderr   string
	timedOut bool
}

func (r result) String() string {
	how := fmt.Sprintf("exit %d", r.code)
	if r.timedOut {
		how = "timed out and was killed"
	}
	return fmt.Sprintf("%s: %s\nstdout:\n%sstderr:\n%s", strings.Join(r.args, " "), how, indent(r.stdout), indent(r.stderr))
}

// run runs a command to completion (killing it after timeout).
func (hh *h) run(timeout time.Duration, argv ...string) result {
	hh.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = hh.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Start()
	if err != nil {
		hh.t.Fatalf("running %s: %v", strings.Join(argv, " "), err)
	}
	err = cmd.Wait()
	r := result{args: argv, code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String(),
		timedOut: ctx.Err() != nil}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !r.timedOut {
		hh.t.Fatalf("running %s: %v", strings.Join(argv, " "), err)
	}
	return r
}

// checkpoint runs cr_checkpoint MODE -f image pid and requires success,
// and that cr_info --json describes the image by its schema.
func (hh *h) checkpoint(mode string, pid int, image string, timeout time.Duration) {
	t := hh.t
	t.Helper()
	start := time.Now()
	r := hh.run(timeout, bin(t, "cr_checkpoint"), mode, "-f", image, strconv.Itoa(pid))
	if r.code != 0 {
		t.Fatalf("checkpoint failed:\n%s", r)
	}
	fi, err := os.Stat(image)
	if err != nil {
		t.Fatalf("cr_checkpoint exited 0 but wrote no image: %v\n%s", err, r)
	}
	if fi.Size() == 0 {
		t.Fatalf("cr_checkpoint exited 0 but the image %s is empty", image)
	}
	t.Logf("cr_checkpoint %s pid %d: %d bytes in %v", mode, pid, fi.Size(), time.Since(start).Round(time.Millisecond))
	hh.checkInfoJSON(image)
}

// restart starts cr_restart image in the background. The restored process
// has pid origPid; t.Cleanup kills it (before cr_restart itself).
func (hh *h) restart(name, image string, origPid int, stdin *os.File) *proc {
	hh.t.Helper()
	r := hh.start(name, []string{bin(hh.t, "cr_restart"), image}, startOpts{stdin: stdin})
	hh.t.Cleanup(func() { killRestored(origPid, r.pid) })
	return r
}

// killRestored kills pid if it is the restored process: a child of
// cr_restart (parent), or an orphan that was reparented to us.
func killRestored(pid, parent int) {
	st, err := readStat(pid)
	if err != nil || (st.ppid != parent && st.ppid != os.Getpid()) {
		return
	}
	if st.pgid == pid {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	if st.ppid == os.Getpid() {
		reap(pid, 10*time.Second)
	}
}

// waitGroupGone waits until every process of group pgid has died (a
// process killed with its group may take a moment to exit: an io_uring
// instance, say, is torn down first).
func waitGroupGone(pgid int, d time.Duration) {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		alive := false
		for _, st := range allStats() {
			alive = alive || st.pgid == pgid && st.state != "Z"
		}
		if !alive {
			return
		}
	}
}

// reap waits for a child of ours that os/exec does not know about.
func reap(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid || errors.Is(err, syscall.ECHILD) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkRestored requires pid to be a live process (not a thread) whose
// parent is cr_restart.
func (hh *h) checkRestored(pid int, r *proc) {
	t := hh.t
	t.Helper()
	st, err := readStat(pid)
	if err != nil {
		t.Fatalf("the restored process should have the original pid %d, but: %v\n%s", pid, err, r.describe())
	}
	if st.ppid != r.pid {
		t.Fatalf("pid %d (%s) has parent %d, want cr_restart (pid %d)", pid, st.comm, st.ppid, r.pid)
	}
	if st.state == "Z" {
		t.Fatalf("the restored process %d is a zombie", pid)
	}
	if tgid := statusField(pid, "Tgid"); tgid != strconv.Itoa(pid) {
		t.Fatalf("pid %d is a thread of %s, not a process", pid, tgid)
	}
}

// stopRestored kills the restored process and expects cr_restart, its
// parent, to exit.
func (hh *h) stopRestored(pid int, r *proc) {
	t := hh.t
	t.Helper()
	killRestored(pid, r.pid)
	if !r.wait(10 * time.Second) {
		t.Errorf("cr_restart did not exit within 10s after its child %d was killed\n%s", pid, r.describe())
		r.kill()
		r.wait(10 * time.Second)
	}
}

// waitReaped waits for a process the checkpoint killed.
func (hh *h) waitReaped(p *proc, why string) {
	hh.t.Helper()
	if !p.wait(10 * time.Second) {
		hh.t.Fatalf("%s: pid %d still running 10s later\n%s", why, p.pid, p.describe())
	}
}

// waitGone waits up to d for /proc/pid to disappear.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sweep fails the test for, kills and reaps every descendant still alive
// once the test's own cleanups have run.
func (hh *h) sweep() {
	for _, pid := range descendants(os.Getpid()) {
		st, _ := readStat(pid)
		hh.t.Errorf("stray process left behind: pid %d (%s), parent %d", pid, st.comm, st.ppid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	reapOrphans()
}

// reapOrphans kills and reaps processes that were reparented to us.
func reapOrphans() {
	for _, pid := range descendants(os.Getpid()) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range children(os.Getpid()) {
		reap(pid, 5*time.Second)
	}
}

// ---------------------------------------------------------------------------
// /proc

type stat struct {
	comm  string
	state string
	ppid  int
	pgid  int
	flags uint64
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return stat{}, fmt.Errorf("bad /proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 7 {
		return stat{}, fmt.Errorf("bad /proc/%d/stat: %q", pid, s)
	}
	st := stat{comm: s[open+1 : end], state: f[0]}
	st.ppid, _ = strconv.Atoi(f[1])
	st.pgid, _ = strconv.Atoi(f[2])
	st.flags, _ = strconv.ParseUint(f[6], 10, 64)
	return st, nil
}

func statusField(pid int, key string) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// allStats reads /proc/*/stat for every process.
func allStats() map[int]stat {
	m := map[int]stat{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil {
			m[pid] = st
		}
	}
	return m
}

func children(parent int) []int {
	var out []int
	for pid, st := range allStats() {
		if st.ppid == parent {
			out = append(out, pid)
		}
	}
	return out
}

// descendants lists the live (non-zombie) descendants of root.
func descendants(root int) []int {
	all := allStats()
	kids := map[int][]int{}
	for pid, st := range all {
		kids[st.ppid] = append(kids[st.ppid], pid)
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range kids[p] {
			if all[c].state != "Z" {
				out = append(out, c)
			}
			walk(c)
		}
	}
	walk(root)
	return out
}

// unusedPid returns a pid that no process or thread has right now.
func unusedPid(t *testing.T) int {
	max := sysctlInt(t, "kernel/pid_max")
	for pid := max - 1; pid > max/2; pid-- {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return pid
		}
	}
	t.Fatal("no unused pid found")
	return 0
}

// sysctlInt reads the integer /proc/sys/NAME.
func sysctlInt(t *testing.T, name string) int {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("/proc/sys/%s: %v", name, err)
	}
	return n
}

// waitSyscall waits until thread tid of pid is blocked in one of the
// system calls nrs (from /proc/PID/task/TID/syscall). If the kernel does
// not expose that file it only logs.
func (hh *h) waitSyscall(pid, tid int, what string, nrs ...int) {
	t := hh.t
	t.Helper()
	path := fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid)
	deadline := time.Now().Add(10 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s: thread %d of %d is gone", path, tid, pid)
			}
			t.Logf("cannot tell whether pid %d is in %s: %v", pid, what, err)
			return
		}
		last = strings.TrimSpace(string(b))
		f := strings.Fields(last)
		if len(f) > 0 {
			if nr, err := strconv.Atoi(f[0]); err == nil {
				for _, want := range nrs {
					if nr == want {
						return
					}
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("pid %d thread %d never seen blocked in %s (syscall %v); last %s: %q", pid, tid, what, nrs, path, last)
}

// ---------------------------------------------------------------------------
// Output.

// seqSpec describes a program's progress lines: every line must match
// line, whose first group is a number that starts at stride and grows by
// stride from one line to the next.
type seqSpec struct {
	line   *regexp.Regexp
	stride int64
}

// parseSeq checks the complete lines of data (a trailing partial line is
// ignored unless final, when there must be none) and returns their
// numbers.
func parseSeq(data []byte, s seqSpec, final bool) ([]int64, error) {
	text := string(data)
	if i := strings.LastIndexByte(text, '\n'); i+1 < len(text) {
		if final {
			return nil, fmt.Errorf("output ends in a partial line %q", text[i+1:])
		}
		text = text[:i+1]
	}
	lines := strings.Split(text, "\n")
	lines = lines[:len(lines)-1]
	ns := make([]int64, 0, len(lines))
	for i, line := range lines {
		m := s.line.FindStringSubmatch(line)
		if m == nil {
			return ns, fmt.Errorf("line %d is %q, want a line matching %s\n%s", i+1, line, s.line, excerpt(lines, i))
		}
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return ns, fmt.Errorf("line %d %q: %v", i+1, line, err)
		}
		want := s.stride
		if i > 0 {
			want = ns[i-1] + s.stride
		}
		if n != want {
			kind := "a gap"
			if n <= ns[len(ns)-1] {
				kind = "a repeat (restarted rather than continued?)"
			}
			if i == 0 {
				kind = "a wrong start"
			}
			return ns, fmt.Errorf("line %d is %q, want number %d: %s\n%s", i+1, line, want, kind, excerpt(lines, i))
		}
		ns = append(ns, n)
	}
	return ns, nil
}

func excerpt(lines []string, i int) string {
	lo, hi := max(0, i-3), min(len(lines), i+4)
	var b strings.Builder
	for j := lo; j < hi; j++ {
		mark := "   "
		if j == i {
			mark = ">> "
		}
		fmt.Fprintf(&b, "%s%5d: %s\n", mark, j+1, lines[j])
	}
	return b.String()
}

// waitSeq polls out until its last number is at least atLeast, failing the
// test on a bad line, on timeout, or if one of watch exits first.
func (hh *h) waitSeq(out string, s seqSpec, atLeast int64, timeout time.Duration, watch ...*proc) int64 {
	t := hh.t
	t.Helper()
	var last int64
	hh.waitOutput(out, timeout, fmt.Sprintf("a line numbered %d or more", atLeast), func(data []byte) (bool, error) {
		ns, err := parseSeq(data, s, false)
		if err != nil {
			return false, err
		}
		if len(ns) > 0 {
			last = ns[len(ns)-1]
		}
		return last >= atLeast, nil
	}, watch...)
	return last
}

// waitOutput polls the file out until ready says so.
func (hh *h) waitOutput(out string, timeout time.Duration, what string, ready func([]byte) (bool, error), watch ...*proc) {
	t := hh.t
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := ready(data)
		if err != nil {
			t.Fatalf("%s: %v%s", out, err, describeAll(watch))
		}
		if ok {
			return
		}
		for _, p := range watch {
			if p.exited() {
				// One last look: it may have written and exited.
				data, _ = os.ReadFile(out)
				if ok, err := ready(data); ok && err == nil {
					return
				}
				t.Fatalf("waiting for %s in %s: %s exited\noutput tail:\n%s%s", what, out, p.name,
					indent(tail(data, 10)), describeAll(watch))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in %s after %v\noutput tail:\n%s%s", what, out, timeout, indent(tail(data, 10)), describeAll(watch))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verifySeq requires out to be, now that nothing writes it any more, one
// clean sequence that reaches at least atLeast.
func (hh *h) verifySeq(out string, s seqSpec, atLeast int64) []int64 {
	t := hh.t
	t.Helper()
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := parseSeq(data, s, true)
	if err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if len(ns) == 0 || ns[len(ns)-1] < atLeast {
		t.Fatalf("%s: the sequence ends before %d\ntail:\n%s", out, atLeast, indent(tail(data, 10)))
	}
	return ns
}

// lastSeq returns the last number of a complete, clean output file.
func (hh *h) lastSeq(out string, s seqSpec) int64 {
	hh.t.Helper()
	ns := hh.verifySeq(out, s, 0)
	return ns[len(ns)-1]
}

func describeAll(ps []*proc) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("\n")
		b.WriteString(p.describe())
	}
	return b.String()
}

func tail(data []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

func indent(s string) string {
	if s == "" {
		return "    (empty)\n"
	}
	s = strings.TrimRight(s, "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}
