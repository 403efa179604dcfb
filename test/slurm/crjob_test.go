package slurm

// cr_job under a real Slurm: the README's job script, submitted as it
// stands (the test adds only its own sbatch options: a working directory,
// output files, and the steering below), is preempted twice, once by
// `scancel --signal=USR1 --batch` and once by its time limit's
// --signal=B:USR1 warning, and finishes with the right answer, its output
// one unbroken count, SLURM_RESTART_COUNT 2, a restart on the other node;
// as root and as uid 65534, and with a Python program as well.
//
// Steering, so that the test is quick and every run does what it must:
// while a requeued job is held (cred_expire, about 6 s), the test excludes
// the node it ran on (so the rerun lands on the other node) and sets its
// time limit: one minute for the second run, whose remaining time is then
// below the script's @120 at once, so the warning comes at slurmctld's
// next time-limit check (within about 30 s), and ten minutes again for the
// third run, which finishes.

import (
	"bufio"
	"crypto/sha256"
	"fmt"
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

// readmeScript is the job script of the README's "On a batch cluster"
// that begins with the line first.
func readmeScript(t *testing.T, first string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## On a batch cluster\n")
	if !ok {
		t.Fatal(`README.md has no "## On a batch cluster" section`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	if !strings.Contains(sec, "sbatch job.sh") {
		t.Fatal("the README's cluster section no longer says to submit with `sbatch job.sh`")
	}
	for rest := sec; ; {
		_, block, ok := strings.Cut(rest, "\n```\n")
		script, after, ok2 := strings.Cut(block, "\n```\n")
		if !ok || !ok2 {
			t.Fatalf("the README's cluster section has no job script beginning %q:\n%s", first, sec)
		}
		if strings.HasPrefix(script, first+"\n") {
			return script + "\n"
		}
		rest = "\n" + after
	}
}

var (
	stageOnce sync.Once
	stageBin  string
	stageErr  error
)

// stage copies the stasis commands (STASIS_BIN, set by make test) to a
// directory every user may read, once per cluster.
func stage(t *testing.T, c *Cluster) string {
	t.Helper()
	stageOnce.Do(func() {
		src := os.Getenv("STASIS_BIN")
		if src == "" {
			stageErr = fmt.Errorf("STASIS_BIN is not set: run these tests with make test")
			return
		}
		stageBin = filepath.Join(c.Dir, "stasis-bin")
		if stageErr = os.MkdirAll(stageBin, 0o755); stageErr != nil {
			return
		}
		for _, name := range []string{"cr_run", "cr_checkpoint", "cr_restart", "cr_info", "cr_job"} {
			data, err := os.ReadFile(filepath.Join(src, name))
			if err != nil {
				stageErr = err
				return
			}
			if stageErr = os.WriteFile(filepath.Join(stageBin, name), data, 0o755); stageErr != nil {
				return
			}
		}
	})
	if stageErr != nil {
		t.Fatal(stageErr)
	}
	return stageBin
}

// jobDir makes a working directory for one job, owned by uid.
func jobDir(t *testing.T, c *Cluster, name string, uid int) string {
	t.Helper()
	d := filepath.Join(c.Dir, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, uid, uid); err != nil {
		t.Fatal(err)
	}
	return d
}

// preempted is one job the test preempts twice.
type preempted struct {
	c            *Cluster
	id, dir, out string
	uid          int
	exe          string   // the program, to find it once restarted
	hosts        []string // BatchHost of each run
}

// submit submits script from the shared directory (so stasis.JOBID goes
// there) with dir as its working directory.
func submit(t *testing.T, c *Cluster, bin, script, dir string, uid int) *preempted {
	t.Helper()
	args := []string{"--chdir=" + dir, "-o", "job.out", "-e", "job.err", "--time=10",
		"--export=ALL,PATH=" + bin + ":" + os.Getenv("PATH")}
	if uid != 0 {
		args = append(args, fmt.Sprintf("--uid=%d", uid), fmt.Sprintf("--gid=%d", uid))
	}
	return &preempted{c: c, id: c.Sbatch(t, script, args...), dir: dir, out: filepath.Join(dir, "job.out"), uid: uid}
}

// lines waits until the job's output has at least n lines.
func (p *preempted) lines(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(p.out)
		if strings.Count(string(b), "\n") >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: fewer than %d lines of output after %v:\n%s\nstderr:\n%s", p.id, n, timeout, b, p.stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *preempted) stderr() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "job.err"))
	return string(b)
}

// running waits for run number restarts+1 to run and records its node.
func (p *preempted) running(t *testing.T, restarts int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		job, err := p.c.Job(p.id)
		if err == nil && job["JobState"] == "RUNNING" && job["Restarts"] == strconv.Itoa(restarts) {
			p.hosts = append(p.hosts, job["BatchHost"])
			return
		}
		if err == nil && job["JobState"] != "RUNNING" && job["JobState"] != "PENDING" && job["JobState"] != "REQUEUED" {
			t.Fatalf("job %s: %s (Restarts=%s, Reason=%s) while waiting for run %d\nstderr:\n%s", p.id, job["JobState"], job["Restarts"], job["Reason"], restarts+1, p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: run %d not running after 90 s (%v, %v)\nstderr:\n%s", p.id, restarts+1, job, err, p.stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// requeued waits until the job is pending again after its restarts-th
// requeue, then updates it (while it is held) with the given settings.
func (p *preempted) requeued(t *testing.T, restarts int, update ...string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		job, err := p.c.Job(p.id)
		if err == nil && job["Restarts"] == strconv.Itoa(restarts) && job["JobState"] == "PENDING" {
			break
		}
		if err == nil && (job["JobState"] == "COMPLETED" || job["JobState"] == "FAILED" || job["JobState"] == "TIMEOUT" || job["JobState"] == "CANCELLED") {
			t.Fatalf("job %s ended (%s, Restarts=%s) instead of being requeued %d times\nstderr:\n%s", p.id, job["JobState"], job["Restarts"], restarts, p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: not requeued a %dth time after 90 s (%v, %v)\nstderr:\n%s", p.id, restarts, job, err, p.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := p.c.Run("scontrol", append([]string{"update", "jobid=" + p.id}, update...)...); err != nil {
		t.Fatal(err)
	}
	if job, _ := p.c.Job(p.id); job["JobState"] != "PENDING" {
		t.Fatalf("job %s started again before the test could steer it (%s): is the requeue hold gone?", p.id, job["JobState"])
	}
}

// preemptTwice drives a job through its three runs.
func (p *preempted) preemptTwice(t *testing.T, progress int) {
	t.Helper()
	p.running(t, 0)
	p.lines(t, progress, 60*time.Second)
	if _, err := p.c.Run("scancel", "--signal=USR1", "--batch", p.id); err != nil {
		t.Fatal(err)
	}
	p.requeued(t, 1, "ExcNodeList="+p.hosts[0], "TimeLimit=1")
	p.running(t, 1)
	if p.exe != "" {
		uid, capEff := restoredAs(t, p.exe)
		want := fmt.Sprintf("%d %d %d %d", p.uid, p.uid, p.uid, p.uid)
		if uid != want || (p.uid != 0 && capEff != "0000000000000000") {
			t.Errorf("job %s: the restarted %s runs with Uid %s CapEff %s, want Uid %s", p.id, p.exe, uid, capEff, want)
		}
	}
	if p.hosts[1] == p.hosts[0] {
		t.Fatalf("job %s: the rerun is on %s again", p.id, p.hosts[1])
	}
	p.requeued(t, 2, "TimeLimit=10")
	p.running(t, 2)
	job := p.c.WaitState(t, p.id, 120*time.Second, "COMPLETED", "FAILED", "TIMEOUT", "CANCELLED")
	if job["JobState"] != "COMPLETED" || job["ExitCode"] != "0:0" || job["Restarts"] != "2" {
		t.Fatalf("job %s: JobState=%s ExitCode=%s Restarts=%s, want COMPLETED 0:0 2\nstderr:\n%s", p.id, job["JobState"], job["ExitCode"], job["Restarts"], p.stderr())
	}
	// cr_job says what each run did: started, then restarted twice, the
	// second time from the warning before the time limit.
	errs := p.stderr()
	for _, want := range []string{
		"slurm job " + p.id + ", run 1 on " + p.hosts[0] + ": starting",
		"on SIGUSR1, checkpointed into ",
		"slurm job " + p.id + ", run 2 on " + p.hosts[1] + ": restarting from ",
		"slurm job " + p.id + ", run 3 on " + p.hosts[2] + ": restarting from ",
		"; requeued",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("job %s: its stderr does not say %q:\n%s", p.id, want, errs)
		}
	}
	if n := strings.Count(errs, "; requeued"); n != 2 {
		t.Errorf("job %s: requeued %d times by cr_job, want 2:\n%s", p.id, n, errs)
	}
	if m, _ := filepath.Glob(filepath.Join(p.c.Dir, "stasis."+p.id)); len(m) != 0 {
		t.Errorf("job %s finished, but its image directory is still there", p.id)
	}
	t.Logf("job %s (uid %d): runs on %v; cr_job's stderr:\n%s", p.id, p.uid, p.hosts, errs)
}

// checkSolver checks the solver's output: steps 1..steps once each, in
// order, each sum right, and the answer.
func checkSolver(t *testing.T, out string, steps int64) {
	t.Helper()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	var k, sum int64
	for sc.Scan() {
		l := sc.Text()
		if k == steps {
			want := fmt.Sprintf("answer %d", sum)
			if l != want {
				t.Fatalf("%s: after step %d: %q, want %q", out, k, l, want)
			}
			k++
			continue
		}
		k++
		sum += k * k * k
		if want := fmt.Sprintf("step %d sum %d", k, sum); l != want {
			t.Fatalf("%s: line %d is %q, want %q: the count did not go on unbroken\n%s", out, k, l, want, b)
		}
	}
	if k != steps+1 {
		t.Fatalf("%s: %d lines, want %d steps and the answer", out, k, steps)
	}
	if want := (steps * (steps + 1) / 2) * (steps * (steps + 1) / 2); sum != want {
		t.Fatalf("%s: answer %d, want %d", out, sum, want)
	}
}

// solverJob makes uid's job directory name holding the solver (built
// once per run of the tests) and its input.dat: steps steps of ms each.
func solverJob(t *testing.T, c *Cluster, name string, uid int, steps, ms int64) string {
	t.Helper()
	solverOnce.Do(func() {
		solverBin = filepath.Join(c.Dir, "solver")
		if out, err := exec.Command("gcc", "-O2", "-o", solverBin, "../progs/solver.c").CombinedOutput(); err != nil {
			solverErr = fmt.Errorf("gcc: %v\n%s", err, out)
		}
	})
	if solverErr != nil {
		t.Fatal(solverErr)
	}
	d := jobDir(t, c, name, uid)
	data, err := os.ReadFile(solverBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "solver"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "input.dat"), []byte(fmt.Sprintf("%d %d\n", steps, ms)), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

var (
	solverOnce sync.Once
	solverBin  string
	solverErr  error
)

// TestCrJobReadme: the README's script with ./solver, as root and as uid
// 65534.
func TestCrJobReadme(t *testing.T) {
	t.Parallel()
	c := shared(t)
	bin := stage(t, c)
	script := readmeScript(t, "#!/bin/bash")
	const steps, ms = 400, 100
	var jobs []*preempted
	for _, uid := range []int{0, 65534} {
		d := solverJob(t, c, fmt.Sprintf("readme-%d", uid), uid, steps, ms)
		p := submit(t, c, bin, script, d, uid)
		p.exe = filepath.Join(d, "solver")
		jobs = append(jobs, p)
	}
	for _, p := range jobs {
		t.Run(fmt.Sprintf("uid%d", p.uid), func(t *testing.T) {
			t.Parallel()
			p.preemptTwice(t, 20)
			checkSolver(t, p.out, steps)
			if p.uid != 0 {
				checkOwned(t, p)
			}
		})
	}
}

// checkOwned: what uid 65534's job left is its own, and its restored
// program ran as that user with no capabilities.
func checkOwned(t *testing.T, p *preempted) {
	t.Helper()
	for _, f := range []string{"job.out", "job.err"} {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(p.dir, f), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != uint32(p.uid) {
			t.Errorf("job %s: %s is owned by uid %d", p.id, f, st.Uid)
		}
	}
	if regexp.MustCompile(`(?i)permission denied|not permitted`).MatchString(p.stderr()) {
		t.Errorf("job %s of uid %d was refused something:\n%s", p.id, p.uid, p.stderr())
	}
}

// restoredAs finds the running process whose executable is exe and
// returns its Uid and CapEff lines once cr_restart has let it go.
func restoredAs(t *testing.T, exe string) (uid, capEff string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if link, _ := os.Readlink("/proc/" + e.Name() + "/exe"); link != exe {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/status")
			if err != nil {
				continue
			}
			tracer := ""
			for _, l := range strings.Split(string(b), "\n") {
				k, v, _ := strings.Cut(l, ":")
				switch k {
				case "Uid":
					uid = strings.Join(strings.Fields(v), " ")
				case "CapEff":
					capEff = strings.TrimSpace(v)
				case "TracerPid":
					tracer = strings.TrimSpace(v)
				}
			}
			// cr_restart gives the process its credentials last, then
			// lets it go: until then (traced) it has the restorer's.
			if tracer == "0" {
				return uid, capEff
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no process runs %s", exe)
	return "", ""
}

// TestCrJobPython: a Python program (count.py, which checks its own sums
// every tick) through the same two preemptions.
func TestCrJobPython(t *testing.T) {
	t.Parallel()
	c := shared(t)
	bin := stage(t, c)
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is not installed: %v", err)
	}
	d := jobDir(t, c, "python", 0)
	src, err := os.ReadFile("../progs/count.py")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "count.py"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	const max = 700 // ticks of 50 ms
	script := fmt.Sprintf("#!/bin/bash\n#SBATCH --signal=B:USR1@120 --requeue --open-mode=append\nexec cr_job %s count.py %d\n", py, max)
	p := submit(t, c, bin, script, d, 0)
	p.preemptTwice(t, 40)
	b, err := os.ReadFile(p.out)
	if err != nil {
		t.Fatal(err)
	}
	ls := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(ls) != max {
		t.Fatalf("%s: %d lines, want %d:\n%s", p.out, len(ls), max, b)
	}
	for i, l := range ls {
		f := strings.Fields(l)
		if len(f) != 5 || f[0] != "tick" || f[1] != strconv.Itoa(i+1) || f[4] != "ok" {
			t.Fatalf("%s: line %d is %q: the count did not go on unbroken", p.out, i+1, l)
		}
	}
}

// TestCrJobFailures: uid 65534's README job under Slurm. Its first
// warning makes image.1. In its second run the image directory is made
// read-only and the job warned: the checkpoint fails, cr_job says so, the
// job runs on and image.1 is untouched. Writable again, the time limit's
// warning makes image.2 and requeues the job; while it is held, image.2
// is damaged. The third run says so, falls back to image.1, and the job
// still finishes with the right answer (computing again what it had
// computed after image.1).
func TestCrJobFailures(t *testing.T) {
	t.Parallel()
	c := shared(t)
	bin := stage(t, c)
	script := readmeScript(t, "#!/bin/bash")
	const steps, ms, uid = 400, 100, 65534
	d := solverJob(t, c, "failures", uid, steps, ms)
	p := submit(t, c, bin, script, d, uid)
	images := filepath.Join(c.Dir, "stasis."+p.id)
	img1, img2 := filepath.Join(images, "image.1"), filepath.Join(images, "image.2")

	p.running(t, 0)
	p.lines(t, 20, 60*time.Second)
	if _, err := c.Run("scancel", "--signal=USR1", "--batch", p.id); err != nil {
		t.Fatal(err)
	}
	p.requeued(t, 1, "ExcNodeList="+p.hosts[0])
	n := lineCount(p.out)
	p.running(t, 1)
	waitSays(t, p, "run 2 on ")
	p.lines(t, n+3, 30*time.Second) // restored, and computing
	sum1 := fileSum(t, img1)
	// Owned by root: mode 0500 would not stop the restored job's agent,
	// which runs in a user namespace of uid 65534's with CAP_DAC_OVERRIDE
	// over that user's files.
	if err := os.Chown(images, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(images, 0o755); err != nil {
		t.Fatal(err)
	}
	n = lineCount(p.out)
	if _, err := c.Run("scancel", "--signal=USR1", "--batch", p.id); err != nil {
		t.Fatal(err)
	}
	waitSays(t, p, "checkpoint into "+img2+" failed")
	waitSays(t, p, "the job runs on; "+img1+" is kept for the next run")
	p.lines(t, n+20, 30*time.Second)
	if job, _ := c.Job(p.id); job["JobState"] != "RUNNING" || job["Restarts"] != "1" {
		t.Fatalf("job %s after a failed checkpoint: %s, Restarts=%s; want it running on", p.id, job["JobState"], job["Restarts"])
	}
	if fileSum(t, img1) != sum1 {
		t.Fatalf("%s changed while a checkpoint failed", img1)
	}
	if err := os.Chown(images, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(images, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run("scontrol", "update", "jobid="+p.id, "TimeLimit=1"); err != nil {
		t.Fatal(err)
	}
	p.requeued(t, 2, "TimeLimit=10")
	b, err := os.ReadFile(img2)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff // within the pages, which the restart checks
	if err := os.WriteFile(img2, b, 0o400); err != nil {
		t.Fatal(err)
	}
	p.running(t, 2)
	job := c.WaitState(t, p.id, 120*time.Second, "COMPLETED", "FAILED", "TIMEOUT", "CANCELLED")
	if job["JobState"] != "COMPLETED" || job["ExitCode"] != "0:0" {
		t.Fatalf("job %s: %s %s\nstderr:\n%s", p.id, job["JobState"], job["ExitCode"], p.stderr())
	}
	for _, want := range []string{"restart from " + img2 + " failed", "falling back to the previous image, " + img1} {
		if !strings.Contains(p.stderr(), want) {
			t.Errorf("job %s: its stderr does not say %q:\n%s", p.id, want, p.stderr())
		}
	}
	checkSolverRedone(t, p.out, steps)
	t.Logf("job %s: cr_job's stderr:\n%s", p.id, p.stderr())
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func lineCount(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// waitSays waits until the job's stderr holds want.
func waitSays(t *testing.T, p *preempted, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("job %s: its stderr never said %q:\n%s", p.id, want, p.stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkSolverRedone checks the solver's output where a run fell back to
// an older image: steps 1..a, then once steps b+1..steps (b < a: the ones
// after the older image, computed again), every sum right, and the answer.
func checkSolverRedone(t *testing.T, out string, steps int64) {
	t.Helper()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ls := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var prev int64
	jumps := 0
	for i, l := range ls {
		if i == len(ls)-1 {
			want := fmt.Sprintf("answer %d", (steps*(steps+1)/2)*(steps*(steps+1)/2))
			if l != want || prev != steps {
				t.Fatalf("%s: last line %q after step %d, want %q after step %d", out, l, prev, want, steps)
			}
			break
		}
		var k, sum int64
		if _, err := fmt.Sscanf(l, "step %d sum %d", &k, &sum); err != nil {
			t.Fatalf("%s: line %d is %q", out, i+1, l)
		}
		if want := (k * (k + 1) / 2) * (k * (k + 1) / 2); sum != want {
			t.Fatalf("%s: line %d: step %d sum %d, want %d", out, i+1, k, sum, want)
		}
		if k != prev+1 {
			if k > prev || k == 1 || jumps > 0 {
				t.Fatalf("%s: line %d: step %d after step %d", out, i+1, k, prev)
			}
			jumps++
		}
		prev = k
	}
	if jumps != 1 {
		t.Fatalf("%s: the fallback to the older image does not show (%d jumps back)", out, jumps)
	}
}

// TestCrJobShebang: the README's other script, whose interpreter is
// cr_job, run as uid 65534 through the same two preemptions. Its lines
// run in bash under cr_job, so bash and the solver are checkpointed and
// restarted together, and bash goes on to the script's last line.
func TestCrJobShebang(t *testing.T) {
	t.Parallel()
	c := shared(t)
	bin := stage(t, c)
	script := readmeScript(t, "#!/usr/bin/env cr_job")
	// Enough steps that the second run outlasts the up to 30 s before
	// slurmctld's periodic check sends the time limit's warning.
	const steps, ms, uid = 450, 100, 65534
	d := solverJob(t, c, "shebang", uid, steps, ms)
	p := submit(t, c, bin, script, d, uid)
	p.exe = filepath.Join(d, "solver")
	p.preemptTwice(t, 20)
	b, err := os.ReadFile(p.out)
	if err != nil {
		t.Fatal(err)
	}
	ls := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if last := ls[len(ls)-1]; last != "solver: status 0" {
		t.Fatalf("job %s: the script's last line did not run after the solver: output ends %q", p.id, last)
	}
	if err := os.WriteFile(p.out, []byte(strings.Join(ls[:len(ls)-1], "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkSolver(t, p.out, steps)
	checkOwned(t, p)
}
