package e2e

// Tests of cr_checkpoint's scopes (-T -p -g -s), their failures, and
// process trees.

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

	// A script with two background children: -T and -g save all three,
	// -p the script alone; a restart rebuilds the tree with its links.
	script := counter + " >/dev/null & " + counter + " >/dev/null & wait; echo done"
	sh := hh.startProg("sh", []string{"sh", "-c", script}, hh.path("sh.txt"))
	hh.waitOutput(hh.path("sh.txt"), wait30, "two children", func([]byte) (bool, error) { return len(children(sh.pid)) == 2, nil }, sh)
	kids := children(sh.pid)
	for _, c := range []struct {
		args []string
		n    int
	}{
		{[]string{"-T", strconv.Itoa(sh.pid)}, 3},
		{[]string{strconv.Itoa(sh.pid)}, 3}, // -T is the default
		{[]string{"-g", strconv.Itoa(sh.pid)}, 3},
		{[]string{"-p", strconv.Itoa(sh.pid)}, 1},
		{[]string{"-p", "--ptraced-allow", strconv.Itoa(kids[0])}, 1}, // not traced: allowed
	} {
		img := hh.path("x.img")
		if r := hh.ckpt(append([]string{"-f", img}, c.args...)...); r.code != 0 {
			t.Fatalf("cr_checkpoint %v: %s", c.args, r)
		}
		info := hh.run(wait30, bin(t, "cr_info"), img)
		if got := strings.Count(info.stdout, "\nprocess "); got != c.n {
			t.Errorf("cr_checkpoint %v saved %d processes, want %d:\n%s", c.args, got, c.n, info.stdout)
		}
		os.Remove(img)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-s", strconv.Itoa(os.Getpid())}, "no such session"}, // we lead no session
		{[]string{"-g", strconv.Itoa(unusedPid(t))}, "no such process group"},
		{[]string{"-p", strconv.Itoa(unusedPid(t))}, "no such process"},
		{[]string{"-p", "2"}, "kernel thread"},
		{[]string{"-p", "--ptraced-allow", "1"}, "is the checkpointer itself"}, // pid 1's tree holds us... as -p it is pid 1 alone
	} {
		img := hh.path("x.img")
		r := hh.ckpt(append([]string{"-f", img}, c.args...)...)
		if c.args[len(c.args)-1] == "1" {
			continue // pid 1 may or may not be checkpointable here; only that nothing breaks matters
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
		t.Fatalf("the checkpoints harmed the script\n%s", sh.describe())
	}
	// The post-checkpoint signal goes to the scope and only to it.
	hh.mustCkpt(hh.path("stop.img"), "-p", "--stop", strconv.Itoa(sh.pid))
	if st := stoppedSoon(sh.pid); st != "T" {
		t.Errorf("-p --stop: the script is in state %s, want T", st)
	}
	for _, k := range kids {
		if st, _ := readStat(k); st.state == "T" {
			t.Errorf("-p --stop on the script stopped its child %d too", k)
		}
	}
	syscall.Kill(sh.pid, syscall.SIGCONT)
	img = hh.path("tree.img")
	hh.mustCkpt(img, "--kill", strconv.Itoa(sh.pid))
	hh.waitReaped(sh, "after cr_checkpoint --kill")
	reapZombies() // orphans of the killed script come to us
	rt := hh.restart("cr_restart-tree", img, sh.pid, nil)
	if got := hh.jobOf(rt); got != sh.pid {
		t.Fatalf("cr_restart's child is %d, want the script %d", got, sh.pid)
	}
	hh.checkRestored(sh.pid, rt)
	got := children(sh.pid)
	slices.Sort(got)
	slices.Sort(kids)
	if !slices.Equal(got, kids) {
		t.Fatalf("the restored script has children %v, want %v", got, kids)
	}
	for _, k := range kids {
		if st, err := readStat(k); err != nil || st.ppid != sh.pid {
			t.Fatalf("child %d was not restored under the script: %+v %v", k, st, err)
		}
	}
	// The script waits for its children: when they end, it ends.
	for _, k := range kids {
		syscall.Kill(k, syscall.SIGTERM)
	}
	if !rt.wait(wait30) {
		t.Fatalf("the restored script did not end after its children\n%s", rt.describe())
	}
	if data, _ := os.ReadFile(hh.path("sh.txt")); !strings.Contains(string(data), "done") {
		t.Fatalf("the restored script did not finish its wait: %q", data)
	}

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

// TestPipeline: a shell pipeline (producer, filter, consumer; or a
// producer and consumer joined by a FIFO) whose consumer starts late, so
// that the first lines wait in the pipe when it is checkpointed and killed; after
// the restart every stage runs on and the output is one clean count from
// 1: not a line lost (the pipe's contents came back) or repeated.
func TestPipeline(t *testing.T) {
	counter := prog(t, "counter")
	for name, script := range map[string]string{
		"pipe": counter + " | { sleep 1; grep --line-buffered tick; } | cat",
		"fifo": "rm -f fifo; mkfifo fifo; " + counter + " > fifo & { sleep 1; cat; } < fifo",
	} {
		t.Run(name, func(t *testing.T) { pipelineGoesOn(t, script) })
	}
}

// pipelineGoesOn runs the pipeline test with script.
func pipelineGoesOn(t *testing.T, script string) {
	hh := newH(t)
	seq := seqSpec{tickLine, 1}
	out := hh.path("out.txt")
	sh := hh.startProg("sh", []string{"sh", "-c", script}, out)
	time.Sleep(500 * time.Millisecond) // about ten ticks, all still in the first pipe
	if data, _ := os.ReadFile(out); len(data) != 0 {
		t.Fatalf("the consumer wrote before its sleep ended: %q", data)
	}
	img := hh.path("pipe.img")
	hh.mustCkpt(img, "--kill", strconv.Itoa(sh.pid))
	hh.waitReaped(sh, "after cr_checkpoint --kill")
	reapZombies() // the stages, orphaned when the script was killed, come to us
	rs := hh.restart("cr_restart", img, sh.pid, nil)
	hh.waitSeq(out, seq, 30, wait30, rs)
	hh.stopRestored(sh.pid, rs)
	hh.verifySeq(out, seq, 30)
}

// reapWhenDead waits until pid is a zombie or gone, then reaps the
// zombies we hold (pid among them, if it was orphaned to us).
func reapWhenDead(pid int) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st, err := readStat(pid); err != nil || st.state == "Z" {
			break
		}
	}
	reapZombies()
}

// reapZombies reaps our children that have exited: processes orphaned by a
// killed test process are reparented to us, the subreaper, and keep their
// pids until reaped, which a restart needs free.
func reapZombies() {
	for _, pid := range children(os.Getpid()) {
		if st, err := readStat(pid); err == nil && st.state == "Z" {
			reap(pid, 5*time.Second)
		}
	}
}

// TestWorkers: a parent and three forked workers sharing a region (shared
// anonymous memory, or a System V segment already marked for removal) and
// a pipe back to the parent, checkpointed while one
// worker is a zombie its parent has not reaped and the others are midway.
// After the restart the workers finish and the parent's checks of the
// shared counters, the reports through the pipe and the exit statuses
// (the zombie's included) all pass.
func TestWorkers(t *testing.T) {
	workers := prog(t, "workers")
	for _, mode := range []string{"mmap", "sysv"} {
		t.Run(mode, func(t *testing.T) { workersGoOn(t, workers, mode) })
	}
}

func workersGoOn(t *testing.T, workers, mode string) {
	hh := newH(t)
	seq := seqSpec{tickLine, 1}
	out := hh.path("out.txt")
	p := hh.startProg("workers", []string{workers, "200", mode}, out)
	hh.waitZombieChild(p, out)
	last := hh.waitSeq(out, seq, 5, wait30, p)
	img := hh.path("w.img")
	hh.mustCkpt(img, "--kill", strconv.Itoa(p.pid))
	hh.waitReaped(p, "after cr_checkpoint --kill")
	reapZombies()
	info := hh.run(wait30, bin(t, "cr_info"), img)
	if !strings.Contains(info.stdout, "zombie") {
		t.Fatalf("the image should hold a zombie:\n%s", info.stdout)
	}
	hh.workersFinish(img, p.pid, out, last)
}

// TestPythonPool: a python3 multiprocessing pool (fork start method:
// pipes, POSIX semaphores in shared memory, handler threads) checkpointed
// midway finishes its work with the right answer after the restart.
func TestPythonPool(t *testing.T) {
	py := python(t)
	hh := newH(t)
	out := hh.path("out.txt")
	script := filepath.Join(repoRoot, "test", "progs", "mp_pool.py")
	p := hh.startProg("mp_pool", []string{py, script, "300"}, out)
	hh.waitOutput(out, wait30, "progress 60", func(d []byte) (bool, error) {
		return strings.Contains(string(d), "progress 60\n"), nil
	}, p)
	img := hh.path("pool.img")
	hh.mustCkpt(img, "--kill", strconv.Itoa(p.pid))
	hh.waitReaped(p, "after cr_checkpoint --kill")
	reapZombies()
	rs := hh.restart("cr_restart", img, p.pid, nil)
	if !rs.wait(60 * time.Second) {
		t.Fatalf("the restored pool did not finish\n%s", rs.describe())
	}
	data, _ := os.ReadFile(out)
	if rs.state.ExitCode() != 0 || !strings.HasSuffix(string(data), "result ok 8955050\n") {
		t.Fatalf("restored pool: %s, output ends %q\n%s", rs.state, tail(data, 3), rs.describe())
	}
}

// TestBashJob: a bash script (leading its own session) with a background
// job, forking a sleep every 50 ms, is checkpointed by -T on the script,
// by -g and by -s. Each image restarts with the script and its job
// counting on, and --stop stopped every process of the scope.
func TestBashJob(t *testing.T) {
	counter := prog(t, "counter")
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("bash is not installed: %v", err)
	}
	seq := seqSpec{tickLine, 1}
	for _, scope := range []string{"-T", "-g", "-s"} {
		t.Run(scope, func(t *testing.T) {
			hh := newH(t)
			out, bg := hh.path("out.txt"), hh.path("bg.txt")
			script := filepath.Join(repoRoot, "test", "progs", "bgjob.sh")
			p := hh.start("bash", []string{bash, script, counter}, startOpts{stdout: out, setsid: true})
			hh.waitSeq(out, seq, 5, wait30, p)
			hh.waitSeq(bg, seq, 5, wait30, p)
			// --stop first: every process of the scope must be stopped.
			img := hh.path("stop.img")
			hh.mustCkpt(img, scope, "--stop", strconv.Itoa(p.pid))
			// The SIGSTOP is queued while they are frozen: each stops as soon
			// as it is let go.
			members := append([]int{p.pid}, descendants(p.pid)...)
			for _, pid := range members {
				if st := stoppedSoon(pid); st != "T" && st != "Z" && st != "" {
					t.Errorf("after %s --stop pid %d is in state %s, want T", scope, pid, st)
				}
			}
			syscall.Kill(-p.pid, syscall.SIGCONT)
			last := hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, p)
			img = hh.path("kill.img")
			hh.mustCkpt(img, scope, "--kill", strconv.Itoa(p.pid))
			hh.waitReaped(p, "after cr_checkpoint --kill")
			reapZombies()
			lastBg := hh.lastSeq(bg, seq)
			rs := hh.restart("cr_restart", img, p.pid, nil)
			hh.waitSeq(out, seq, last+10, wait30, rs)
			hh.waitSeq(bg, seq, lastBg+10, wait30, rs)
			hh.stopRestored(p.pid, rs)
			hh.verifySeq(out, seq, last+10)
		})
	}
}

// TestForkStorm: a process forking short-lived children as fast as it can
// is checkpointed with its tree: the freeze ends, the image restores, and
// the program counts on and keeps reaping its children with the right
// status (a wrong one would end it).
func TestForkStorm(t *testing.T) {
	forker := prog(t, "forker")
	hh := newH(t)
	hh.treeGoesOn("forker", []string{forker})
}

// treeGoesOn starts argv, a program whose tree counts "tick N" on stdout,
// checkpoints the tree with --kill, restarts it, and requires the count to
// go on cleanly for ten more ticks.
func (hh *h) treeGoesOn(name string, argv []string) {
	t := hh.t
	t.Helper()
	seq := seqSpec{tickLine, 1}
	out := hh.path("out.txt")
	p := hh.startProg(name, argv, out)
	hh.waitSeq(out, seq, 8, wait30, p)
	img := hh.path(name + ".img")
	start := time.Now()
	hh.mustCkpt(img, "--kill", strconv.Itoa(p.pid))
	t.Logf("checkpoint of %s took %v", name, time.Since(start).Round(time.Millisecond))
	hh.waitReaped(p, "after cr_checkpoint --kill")
	reapZombies()
	last := hh.lastSeq(out, seq)
	rs := hh.restart("cr_restart", img, p.pid, nil)
	hh.waitSeq(out, seq, last+10, wait30, rs)
	hh.stopRestored(p.pid, rs)
	reapZombies()
	hh.verifySeq(out, seq, last+10)
}

// TestSocketPairs: a parent and a child talking over a unix stream pair
// and a seqpacket pair, with requests always waiting in the child's
// queues, go on after a restart with every answer right: the pairs came
// back connected, with what was queued in them.
func TestSocketPairs(t *testing.T) {
	sockpair := prog(t, "sockpair")
	hh := newH(t)
	hh.treeGoesOn("sockpair", []string{sockpair})
}

// TestRestoreGroups: by default the restored tree joins cr_restart's
// process group and session (BLCR's default); --restore-pgid and
// --restore-sid give the script back its own, its job with it.
func TestRestoreGroups(t *testing.T) {
	counter := prog(t, "counter")
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("bash is not installed: %v", err)
	}
	seq := seqSpec{tickLine, 1}
	for _, c := range []struct {
		opt             string
		ownPgid, ownSid bool
	}{{"", false, false}, {"--restore-pgid", true, false}, {"--restore-sid", true, true}} {
		t.Run("opt="+c.opt, func(t *testing.T) {
			hh := newH(t)
			out := hh.path("out.txt")
			script := filepath.Join(repoRoot, "test", "progs", "bgjob.sh")
			p := hh.start("bash", []string{bash, script, counter}, startOpts{stdout: out, setsid: true})
			hh.waitSeq(out, seq, 3, wait30, p)
			img := hh.path("g.img")
			hh.mustCkpt(img, "--kill", strconv.Itoa(p.pid))
			hh.waitReaped(p, "after cr_checkpoint --kill")
			reapZombies()
			argv := []string{bin(t, "cr_restart")}
			if c.opt != "" {
				argv = append(argv, c.opt)
			}
			rs := hh.start("cr_restart", append(argv, img), startOpts{})
			t.Cleanup(func() { killRestored(p.pid, rs.pid) })
			hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, rs)
			st, err := readStat(p.pid)
			if err != nil {
				t.Fatal(err)
			}
			sid := statField(p.pid, 6)
			if (st.pgid == p.pid) != c.ownPgid || (sid == p.pid) != c.ownSid {
				t.Errorf("restored script %d: pgid %d sid %d; want own group %v, own session %v (cr_restart %d)",
					p.pid, st.pgid, sid, c.ownPgid, c.ownSid, rs.pid)
			}
			for _, k := range children(p.pid) {
				if kst, err := readStat(k); err == nil && kst.pgid != st.pgid {
					t.Errorf("the script's child %d is in group %d, the script in %d", k, kst.pgid, st.pgid)
				}
			}
			syscall.Kill(-p.pid, syscall.SIGKILL)
			hh.stopRestored(p.pid, rs)
		})
	}
}

// statField returns field n (as proc(5) numbers them) of /proc/PID/stat.
func statField(pid, n int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if n-3 >= len(f) {
		return -1
	}
	v, _ := strconv.Atoi(f[n-3])
	return v
}

// stoppedSoon waits up to 5 s for pid to stop (a SIGSTOP queued while it
// was frozen takes effect as it is let go) and returns its state ("" if
// it is gone).
func stoppedSoon(pid int) string {
	var st stat
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		var err error
		if st, err = readStat(pid); err != nil {
			return ""
		}
		if st.state == "T" || st.state == "Z" {
			break
		}
	}
	return st.state
}

// freePid waits up to 10 s for pid to be gone, reaping it if it comes to
// us (a restored process whose cr_restart was killed with it is
// reparented to us, the subreaper, once cr_restart is gone).
func freePid(pid int) {
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		reapZombies()
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return
		}
	}
}
