package slurm

// Proof that the cluster behaves as the cr_job tests will need: jobs of
// root and of uid 65534 run on both nodes, each node is its own host, a job
// requeued from inside runs again elsewhere with its output appended to,
// and signals reach a batch script before its time limit and on demand.

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	// Whatever started us may have leaked descriptors (fds 250/251 of a
	// shell or CI runner): every daemon and job would inherit them.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "slurm: close_range:", err)
		os.Exit(1)
	}
	// The tests wait on Slurm, not on the CPU: run them all at once, not
	// GOMAXPROCS (2 in CI) at a time, unless -test.parallel says otherwise.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "8")
	}
	code := m.Run()
	stopShared()
	os.Exit(code)
}

// at parses the "at=SECONDS.NANOS" a script printed on the line holding key.
func at(t *testing.T, out, key string) time.Time {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(key) + `[^\n]*?\bat=(\d+)\.(\d+)`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q with at= in:\n%s", key, out)
	}
	s, _ := strconv.ParseInt(m[1], 10, 64)
	ns, _ := strconv.ParseInt(m[2], 10, 64)
	return time.Unix(s, ns)
}

const now = `at=$(date +%s.%N)`

// TestJobsRun: a job as root and one as uid 65534 on each node write
// their node's hostname, address and their uid to the shared directory.
func TestJobsRun(t *testing.T) {
	t.Parallel()
	c := shared(t)
	script := "#!/bin/sh\n" +
		`echo "host=$(hostname) node=$SLURMD_NODENAME uid=$(id -u) addr=$(ip -4 -o addr show dev eth0 | awk '{print $4}') ` + now + `"` + "\n"
	type run struct {
		node, uid, id, out string
		submitted          time.Time
	}
	var runs []*run
	for _, node := range Nodes {
		for _, uid := range []string{"0", "65534"} {
			r := &run{node: node, uid: uid, out: fmt.Sprintf("run-%s-%s.out", node, uid)}
			args := []string{"-w", node, "-o", filepath.Join(c.Dir, r.out)}
			if uid != "0" {
				args = append(args, "--uid="+uid, "--gid="+uid)
			}
			r.submitted = time.Now()
			r.id = c.Sbatch(t, script, args...)
			runs = append(runs, r)
		}
	}
	for _, r := range runs {
		job := c.WaitState(t, r.id, 60*time.Second, "COMPLETED", "FAILED", "CANCELLED", "NODE_FAIL")
		if job["JobState"] != "COMPLETED" || job["ExitCode"] != "0:0" {
			t.Errorf("job %s (%s, uid %s): JobState=%s ExitCode=%s", r.id, r.node, r.uid, job["JobState"], job["ExitCode"])
		}
		out := c.ReadFile(r.out)
		idx := 0
		for i, n := range Nodes {
			if n == r.node {
				idx = i
			}
		}
		want := fmt.Sprintf("host=%s node=%s uid=%s addr=%s/24 ", r.node, r.node, r.uid, c.nodeAddr(idx))
		if !strings.HasPrefix(out, want) {
			t.Errorf("job %s wrote %q, want it to start %q", r.id, out, want)
			continue
		}
		t.Logf("job %s on %s as uid %s: script ran %v after sbatch", r.id, r.node, r.uid,
			at(t, out, "host=").Sub(r.submitted).Round(time.Millisecond))
	}
}

// requeueScript prints a line per run; the first run requeues the job
// once go-file exists in the shared directory (at once if go-file is "").
func requeueScript(dir, goFile string) string {
	wait := ""
	if goFile != "" {
		wait = fmt.Sprintf("\twhile [ ! -e %s ]; do sleep 0.1; done\n", filepath.Join(dir, goFile))
	}
	return "#!/bin/sh\n" +
		`echo "run restart=${SLURM_RESTART_COUNT:-unset} host=$(hostname) uid=$(id -u) ` + now + `"` + "\n" +
		`if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then` + "\n" +
		wait +
		"\t" + `echo "requeue ` + now + `"` + "\n" +
		"\tscontrol requeue $SLURM_JOB_ID || echo \"requeue failed: $?\"\n" +
		"\tsleep 60\n" +
		"fi\n"
}

// TestRequeue: a job requeued from inside itself runs again with
// SLURM_RESTART_COUNT=1 on the other node once the first is drained, soon,
// appending to its output; the same for a job of uid 65534 (a user may
// requeue their own job); and without --open-mode=append the first run's
// output is lost (so the append check means something).
func TestRequeue(t *testing.T) {
	t.Parallel()
	c := shared(t)
	rootOut := "requeue-root.out"
	rootID := c.Sbatch(t, requeueScript(c.Dir, "drained-root"),
		"--open-mode=append", "-o", filepath.Join(c.Dir, rootOut))
	userOut := "requeue-65534.out"
	userID := c.Sbatch(t, requeueScript(c.Dir, ""),
		"--uid=65534", "--gid=65534", "--open-mode=append", "-o", filepath.Join(c.Dir, userOut))
	truncOut := "requeue-truncate.out"
	truncID := c.Sbatch(t, requeueScript(c.Dir, ""),
		"--open-mode=truncate", "-o", filepath.Join(c.Dir, truncOut))

	// The root job: drain its node while its first run waits, then let
	// it requeue itself.
	job := c.WaitState(t, rootID, 30*time.Second, "RUNNING")
	first := job["BatchHost"]
	c.Drain(t, first)
	defer c.Resume(t, first)
	if err := os.WriteFile(filepath.Join(c.Dir, "drained-root"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, j := range []struct{ id, out, uid string }{
		{rootID, rootOut, "0"}, {userID, userOut, "65534"}, {truncID, truncOut, "0"},
	} {
		out := c.WaitFile(t, j.out, "run restart=1 ", 60*time.Second)
		if strings.Contains(out, "requeue failed") {
			t.Errorf("job %s (uid %s): %s", j.id, j.uid, out)
		}
		job := c.WaitState(t, j.id, 30*time.Second, "COMPLETED", "FAILED", "CANCELLED")
		if job["JobState"] != "COMPLETED" || job["Restarts"] != "1" {
			t.Errorf("job %s: JobState=%s Restarts=%s, want COMPLETED 1", j.id, job["JobState"], job["Restarts"])
		}
		if !strings.Contains(out, "uid="+j.uid+" ") {
			t.Errorf("job %s ran not as uid %s:\n%s", j.id, j.uid, out)
		}
		if j.id == truncID {
			if strings.Contains(out, "restart=unset") {
				t.Errorf("job %s: the first run's output survived --open-mode=truncate:\n%s", j.id, out)
			}
			continue
		}
		if !strings.Contains(out, "run restart=unset ") {
			t.Errorf("job %s: the first run's output is gone despite --open-mode=append:\n%s", j.id, out)
			continue
		}
		delay := at(t, out, "run restart=1").Sub(at(t, out, "requeue "))
		t.Logf("job %s (uid %s): ran again %v after requeuing itself", j.id, j.uid, delay.Round(time.Millisecond))
		if delay > 20*time.Second {
			t.Errorf("job %s: requeued job waited %v (cred_expire not in effect?)", j.id, delay)
		}
		if j.id == rootID {
			m := regexp.MustCompile(`run restart=1 host=(\S+)`).FindStringSubmatch(out)
			if m == nil || m[1] == first {
				t.Errorf("job %s: first run on %s (drained), rerun not elsewhere:\n%s", j.id, first, out)
			}
			if job["BatchHost"] == first {
				t.Errorf("job %s: BatchHost=%s, the drained node", j.id, first)
			}
		}
	}
}

// trapProg waits for SIGUSR1 and exits 0 when it comes.
const trapProg = `trap 'echo "got USR1 ` + now + `"; exit 0' USR1
echo "started ` + now + `"
while :; do sleep 0.1; done
`

// TestSignalBeforeTimeLimit: with --signal=B:USR1@50 and --time=1, the
// program the batch script execs gets SIGUSR1 before the time limit.
func TestSignalBeforeTimeLimit(t *testing.T) {
	t.Parallel()
	c := shared(t)
	prog := filepath.Join(c.Dir, "trap.sh")
	if err := os.WriteFile(prog, []byte(trapProg), 0o755); err != nil {
		t.Fatal(err)
	}
	out := "usr1-at.out"
	id := c.Sbatch(t, "#!/bin/sh\nexec /bin/bash "+prog+"\n",
		"--time=1", "--signal=B:USR1@50", "-o", filepath.Join(c.Dir, out))
	got := c.WaitFile(t, out, "got USR1", 70*time.Second)
	job := c.WaitState(t, id, 30*time.Second, "COMPLETED", "FAILED", "TIMEOUT", "CANCELLED")
	if job["JobState"] != "COMPLETED" {
		t.Errorf("job %s: JobState=%s, want COMPLETED (the program exits on SIGUSR1)", id, job["JobState"])
	}
	t.Logf("SIGUSR1@50 of a 60 s job came %v after the program started (due at 10 s)",
		at(t, got, "got USR1").Sub(at(t, got, "started")).Round(time.Millisecond))
}

// TestSignalBatchOnly: `scancel --signal=USR1 --batch` signals the batch
// shell and not its children.
func TestSignalBatchOnly(t *testing.T) {
	t.Parallel()
	c := shared(t)
	out := "usr1-batch.out"
	script := `#!/bin/bash
trap 'echo "shell got USR1"; got=1' USR1
bash -c 'trap "echo child got USR1" USR1; echo child ready; while :; do sleep 0.1; done' &
child=$!
echo shell ready
while [ -z "$got" ]; do sleep 0.1; done
sleep 1
kill $child
wait
echo done
`
	id := c.Sbatch(t, script, "-o", filepath.Join(c.Dir, out))
	c.WaitFile(t, out, "child ready", 30*time.Second)
	c.WaitFile(t, out, "shell ready", 5*time.Second)
	if _, err := c.Run("scancel", "--signal=USR1", "--batch", id); err != nil {
		t.Fatal(err)
	}
	got := c.WaitFile(t, out, "done", 30*time.Second)
	if !strings.Contains(got, "shell got USR1") || strings.Contains(got, "child got USR1") {
		t.Errorf("want the batch shell alone to get SIGUSR1:\n%s", got)
	}
	c.WaitState(t, id, 30*time.Second, "COMPLETED")
}

// TestClusterStop: a cluster of its own, stopped with a job still
// running, leaves no daemon, job, namespace or bridge behind.
func TestClusterStop(t *testing.T) {
	t.Parallel()
	c := StartCluster(t)
	id := c.Sbatch(t, "#!/bin/sh\necho $$ > "+filepath.Join(c.Dir, "pid")+"\nexec sleep 300\n")
	c.WaitState(t, id, 30*time.Second, "RUNNING")
	c.WaitFile(t, "pid", "\n", 10*time.Second)
	jobPid, err := strconv.Atoi(strings.TrimSpace(c.ReadFile("pid")))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range c.daemons {
		pids = append(pids, d.cmd.Process.Pid)
	}
	netns, bridge, root := c.netns, c.bridge, c.root
	c.Stop()
	for _, pid := range append(pids, jobPid) {
		if st := procState(pid); st != "" && st != "Z" {
			t.Errorf("pid %d still there (state %s) after Stop", pid, st)
		}
	}
	for _, ns := range netns {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("netns %s still there", ns)
		}
	}
	if _, err := os.Stat("/sys/class/net/" + bridge); err == nil {
		t.Errorf("bridge %s still there", bridge)
	}
	if _, err := os.Stat(root); err == nil {
		t.Errorf("%s still there", root)
	}
}
