package e2e

// Tests of checkpoints that let the job run on (--run, the default): the
// job is frozen only while a copy-on-write snapshot (a fork the process is
// made to do) is taken, and its memory is read from the snapshot while it
// runs. The image must still be one instant of the job; the snapshot must
// never be seen by the job, and never be left behind.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	reaperLine = regexp.MustCompile(`^round (\d+) sigchld \d+ ok$`)
	shmLine    = regexp.MustCompile(`^round (\d+) ok$`)
	gapLine    = regexp.MustCompile(`(?m)^step \d+ gap (\d+)$`)
)

// snapshots lists the children of pid that a checkpoint's snapshot would
// be: forked with exit signal 0 (zombies included).
func snapshots(pid int) []int {
	var out []int
	for _, c := range children(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		// exit_signal is field 38 of stat; f[0] is field 3.
		if len(f) > 35 && f[35] == "0" {
			out = append(out, c)
		}
	}
	return out
}

// noSnapshotLeft fails the test if pid still has a snapshot child, or is
// still traced, once d has passed.
func (hh *h) noSnapshotLeft(pid int, d time.Duration, after string) {
	hh.t.Helper()
	deadline := time.Now().Add(d)
	for {
		left, tracer := snapshots(pid), statusField(pid, "TracerPid")
		if len(left) == 0 && tracer == "0" {
			return
		}
		if time.Now().After(deadline) {
			hh.t.Fatalf("%s: pid %d still has snapshot children %v (TracerPid %s)", after, pid, left, tracer)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// maxGap is the longest stall cowheap logged in gaps.
func maxGap(t *testing.T, gaps string) time.Duration {
	b, err := os.ReadFile(gaps)
	if err != nil {
		t.Fatal(err)
	}
	var max int64
	for _, m := range gapLine.FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		max = mmax(max, n)
	}
	return time.Duration(max) * time.Microsecond
}

func mmax(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// killJob kills every process below cr_restart and waits for it to exit.
func (hh *h) killJob(rs *proc) {
	for _, pid := range descendants(rs.pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if !rs.wait(10 * time.Second) {
		hh.t.Errorf("cr_restart did not exit once its job was killed\n%s", rs.describe())
	}
}

// TestCowHeap: a program rewriting its 256 MiB heap without pause is
// checkpointed with --run. It runs on, checking its memory against its
// running checksum; it was stopped for much less than the checkpoint took;
// and the image restarts with heap and checksum from one instant.
func TestCowHeap(t *testing.T) {
	cowheap := prog(t, "cowheap")
	needEngine(t)
	hh := newH(t)
	out, gaps := hh.path("out.txt"), hh.path("gaps")
	steps := seqSpec{stepLine, 1}
	p := hh.startProg("cowheap", []string{cowheap, "256", gaps}, out)
	last := hh.waitSeq(out, steps, 3, 60*time.Second, p)
	img := hh.path("img")
	start := time.Now()
	hh.checkpoint("--run", p.pid, img, 60*time.Second)
	took := time.Since(start)
	hh.noSnapshotLeft(p.pid, 0, "cr_checkpoint --run has exited")
	last = hh.waitSeq(out, steps, last+3, 60*time.Second, p)
	// Generously: frozen for the whole checkpoint, the longest stall
	// would be about as long as the checkpoint.
	if gap := maxGap(t, gaps); took > 500*time.Millisecond && gap > took/2 {
		t.Fatalf("the program stalled for %v during a checkpoint of %v: it was frozen for the write", gap, took)
	} else {
		t.Logf("checkpoint %v, longest stall of the program %v", took.Round(time.Millisecond), gap)
	}
	p.kill()
	hh.waitReaped(p, "SIGKILL")
	at := hh.lastSeq(out, steps)
	rs := hh.restart("cr_restart", img, p.pid, nil)
	hh.waitRestored(p.pid, rs, 60*time.Second)
	// Every step it prints checks the whole heap against the checksum.
	hh.waitSeq(out, steps, at+2, 60*time.Second, rs)
	hh.stopRestored(p.pid, rs)
	hh.verifySeq(out, steps, at+2)
	_ = last
}

// TestCowInvisible: a parent that counts its SIGCHLDs and waits for each
// child with wait(-1), checkpointed five times with --run, never sees a
// snapshot; its own children's accounts stay exact; the last image
// restarts with them.
func TestCowInvisible(t *testing.T) {
	reaper := prog(t, "reaper")
	needEngine(t)
	hh := newH(t)
	out := hh.path("out.txt")
	rounds := seqSpec{reaperLine, 1}
	p := hh.startProg("reaper", []string{reaper}, out)
	last := hh.waitSeq(out, rounds, 3, wait30, p)
	img := hh.path("img")
	for i := 0; i < 5; i++ {
		hh.checkpoint("--run", p.pid, img, wait30)
		hh.noSnapshotLeft(p.pid, 0, "cr_checkpoint --run has exited")
		last = hh.waitSeq(out, rounds, last+2, wait30, p)
	}
	hh.killRestart(p, img, out, rounds, 5)
}

// TestCowShared: two processes taking turns over 32 MiB of shared memory,
// each checking it against its private memory, checkpointed with --run:
// they run on, and the image restarts with shared and private memory
// from one instant.
func TestCowShared(t *testing.T) {
	cowshm := prog(t, "cowshm")
	needEngine(t)
	hh := newH(t)
	out := hh.path("out.txt")
	rounds := seqSpec{shmLine, 1}
	p := hh.startProg("cowshm", []string{cowshm, "32"}, out)
	last := hh.waitSeq(out, rounds, 3, wait30, p)
	img := hh.path("img")
	for i := 0; i < 2; i++ {
		hh.checkpoint("--run", p.pid, img, wait30)
		last = hh.waitSeq(out, rounds, last+3, wait30, p)
	}
	for _, pid := range append(children(p.pid), p.pid) {
		hh.noSnapshotLeft(pid, 0, "cr_checkpoint --run has exited")
	}
	hh.killRestart(p, img, out, rounds, 3)
}

// killRestart kills p and its children, restarts img, and checks that the
// sequence in out goes on, after more, with no gap.
func (hh *h) killRestart(p *proc, img, out string, rounds seqSpec, after int64) {
	hh.t.Helper()
	p.kill()
	hh.waitReaped(p, "SIGKILL")
	waitGroupGone(p.pid, 10*time.Second)
	reapOrphans() // its child, whose group would keep the pid in use
	at := hh.lastSeq(out, rounds)
	rs := hh.restart("cr_restart", img, p.pid, nil)
	hh.waitRestored(p.pid, rs, wait30)
	hh.waitSeq(out, rounds, at+after, wait30, rs)
	hh.killJob(rs)
	hh.verifySeq(out, rounds, at+after)
}

// TestCowAbandoned: a --run checkpoint abandoned once the job runs on
// again and its memory is being read from the snapshot (by -t, or by
// SIGKILL of cr_checkpoint) leaves no snapshot behind, no image, and the
// job running.
func TestCowAbandoned(t *testing.T) {
	cowheap := prog(t, "cowheap")
	bash := "/bin/bash"
	if _, err := os.Stat(bash); err != nil {
		t.Skipf("no bash: %v", err)
	}
	needEngine(t)
	for _, how := range []string{"time-limit", "killed"} {
		t.Run(how, func(t *testing.T) {
			hh := newH(t)
			out, gaps := hh.path("out.txt"), hh.path("gaps")
			steps := seqSpec{stepLine, 1}
			p := hh.startProg("cowheap", []string{cowheap, "64", gaps}, out)
			hh.waitSeq(out, steps, 2, wait30, p)
			// The image goes into a pipe that nobody reads for 4 s: the
			// write blocks after the snapshot is taken.
			flags := "-F 1"
			if how == "time-limit" {
				flags = "-t 2 -F 1"
			}
			script := bin(t, "cr_checkpoint") + " " + flags + " " + strconv.Itoa(p.pid) +
				" | (sleep 4; cat > /dev/null); exit ${PIPESTATUS[0]}"
			c := hh.start("checkpoint", []string{bash, "-c", script}, startOpts{})
			// Wait until the snapshot exists and the job runs on.
			deadline := time.Now().Add(wait30)
			for len(snapshots(p.pid)) == 0 || statusField(p.pid, "TracerPid") != "0" {
				if time.Now().After(deadline) || c.exited() {
					t.Fatalf("no snapshot of pid %d seen while it runs on\n%s", p.pid, c.describe())
				}
				time.Sleep(time.Millisecond)
			}
			if how == "killed" {
				var ck int
				for _, pid := range descendants(c.pid) {
					if st, _ := readStat(pid); st.comm == "cr_checkpoint" {
						ck = pid
					}
				}
				if ck == 0 {
					t.Fatal("cr_checkpoint not found")
				}
				syscall.Kill(ck, syscall.SIGKILL)
			}
			if !c.wait(wait30) {
				t.Fatalf("cr_checkpoint did not end\n%s", c.describe())
			}
			switch code := c.state.ExitCode(); {
			case how == "time-limit" && code != 110:
				t.Fatalf("-t 2 on a checkpoint blocked for 4 s: want status 110 (ETIMEDOUT)\n%s", c.describe())
			case how == "killed" && code == 0:
				t.Fatalf("a killed cr_checkpoint exited 0\n%s", c.describe())
			}
			hh.noSnapshotLeft(p.pid, 5*time.Second, "after the checkpoint was abandoned")
			hh.waitSeq(out, steps, hh.lastSeq(out, steps)+2, wait30, p)
			if left := descendants(c.pid); len(left) > 0 {
				t.Fatalf("processes left behind by the abandoned checkpoint: %v", left)
			}
		})
	}
	t.Run("disk-full", func(t *testing.T) {
		hh := newH(t)
		tfs := hh.path("tfs")
		os.Mkdir(tfs, 0o755)
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tfs).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a small tmpfs here (%v: %s): no full disk to test with", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", tfs).Run() })
		out, gaps := hh.path("out.txt"), hh.path("gaps")
		steps := seqSpec{stepLine, 1}
		p := hh.startProg("cowheap", []string{cowheap, "64", gaps}, out)
		hh.waitSeq(out, steps, 2, wait30, p)
		r := hh.ckpt("--run", "-f", filepath.Join(tfs, "img"), strconv.Itoa(p.pid))
		if r.code == 0 || !strings.Contains(r.stderr, "no space left on device") {
			t.Fatalf("a --run checkpoint onto a full disk: %s", r)
		}
		if es, _ := os.ReadDir(tfs); len(es) != 0 {
			t.Fatalf("the full disk holds %d files, want none", len(es))
		}
		hh.noSnapshotLeft(p.pid, 0, "the failed checkpoint")
		hh.waitSeq(out, steps, hh.lastSeq(out, steps)+2, wait30, p)
	})
}

// TestCowForkFails: a process that may not fork (uid 65534 with
// RLIMIT_NPROC 1) is checkpointed with --run all the same (by uid 65534:
// root here may lack CAP_SYS_RESOURCE, which reading another user's
// rlimits needs): it stays frozen while its memory is written, -v says
// why, it runs on after, and the image reads back whole.
func TestCowForkFails(t *testing.T) {
	counter := prog(t, "counter")
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv is not installed (%v): cannot act as another user", err)
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skipf("prlimit is not installed (%v): cannot limit the target's processes", err)
	}
	needEngine(t)
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
	out := hh.path("out.txt")
	seq := seqSpec{tickLine, 1}
	p := hh.startProg("counter", append(as, prlimit, "--nproc=1", counter), out)
	last := hh.waitSeq(out, seq, 3, wait30, p)
	img := dir + "/img"
	r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "-v", "--run", "-f", img, strconv.Itoa(p.pid))...)
	if r.code != 0 || !strings.Contains(r.stderr, "no copy-on-write snapshot") {
		t.Fatalf("--run of a process that may not fork: want success and a note under -v\n%s", r)
	}
	t.Logf("%s", r.stderr)
	hh.noSnapshotLeft(p.pid, 0, "cr_checkpoint --run has exited")
	hh.waitSeq(out, seq, last+3, wait30, p)
	if info := hh.run(wait30, bin(t, "cr_info"), img); info.code != 0 {
		t.Fatalf("the image does not read back:\n%s", info)
	}
}

// TestCowMainThreadExits: the main thread ends (pthread_exit) while a
// --run checkpoint reads the memory of its snapshot; the snapshot, a
// child of the main thread, is still reaped, through the thread left.
func TestCowMainThreadExits(t *testing.T) {
	hh := newH(t)
	out := hh.path("out.txt")
	p := hh.startProg("mainexit", []string{prog(t, "mainexit")}, out)
	hh.waitSeq(out, seqSpec{tickLine, 1}, 3, wait30, p)
	hh.checkpoint("--run", p.pid, hh.path("1.img"), wait30)
	if st, err := readStat(p.pid); err != nil || st.state != "Z" {
		t.Fatalf("the main thread did not end during the checkpoint (%v %v): the test did not test", st.state, err)
	}
	hh.waitSeq(out, seqSpec{tickLine, 1}, hh.lastSeq(out, seqSpec{tickLine, 1})+3, wait30, p)
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p.pid))
	for _, f := range tasks {
		if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) != "" {
			t.Fatalf("%s: %q: the snapshot was left behind", f, b)
		}
	}
}
