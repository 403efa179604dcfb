package e2e

// cr_checkpoint -d DIR: one image per process and an index, put in place
// as one; cr_restart DIR (or -d DIR) restarts the whole set.

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCheckpointDir: forked workers (a pipe, shared memory, a zombie)
// checkpointed into a directory, compressed per file, with their program
// and libraries saved (--save-private, once for all), finish with the right
// answer after cr_restart DIR; each process's image is read alone by
// cr_info, and restarting one alone is refused. A single process
// checkpointed with -d goes on after cr_restart -d DIR.
func TestCheckpointDir(t *testing.T) {
	t.Run("workers", func(t *testing.T) {
		hh := newH(t)
		seq := seqSpec{tickLine, 1}
		out := hh.path("out.txt")
		p := hh.startProg("workers", []string{prog(t, "workers"), "200", "mmap"}, out)
		hh.waitZombieChild(p, out)
		last := hh.waitSeq(out, seq, 5, wait30, p)
		pids := append([]int{p.pid}, children(p.pid)...)
		dir := hh.path("ck")
		if r := hh.ckpt("--kill", "--compress=lz4", "--save-private", "-d", dir, strconv.Itoa(p.pid)); r.code != 0 {
			t.Fatalf("checkpoint -d: %s", r)
		}
		hh.waitReaped(p, "after cr_checkpoint --kill")
		reapZombies()
		want := []string{"context"}
		for _, pid := range pids {
			want = append(want, "context."+strconv.Itoa(pid))
		}
		sort.Strings(want)
		if got := names(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("the directory holds %v, want %v", got, want)
		}
		for _, pid := range pids {
			info := hh.run(wait30, bin(t, "cr_info"), filepath.Join(dir, "context."+strconv.Itoa(pid)))
			if info.code != 0 || !strings.Contains(info.stdout, "process "+strconv.Itoa(pid)+" ") {
				t.Fatalf("cr_info of pid %d's image alone: %s", pid, info)
			}
		}
		if info := hh.run(wait30, bin(t, "cr_info"), dir); info.code != 0 || strings.Count(info.stdout, "\nprocess ") != len(pids) ||
			!strings.Contains(info.stdout, "\nsaved file ") {
			t.Fatalf("cr_info of the directory should describe its %d processes and the files --save-private saved: %s", len(pids), info)
		}
		lone := hh.run(wait30, bin(t, "cr_restart"), filepath.Join(dir, "context."+strconv.Itoa(pids[1])))
		if lone.code == 0 || !strings.Contains(lone.stderr, "restart the directory") {
			t.Fatalf("restarting one process of a directory alone: %s", lone)
		}
		hh.workersFinish(dir, p.pid, out, last)
	})
	t.Run("agent", func(t *testing.T) {
		// Through cr_run's agent; cr_restart of a directory, asked by
		// signal, replaces the directory with a new checkpoint directory.
		hh := newH(t)
		seq := seqSpec{tickLine, 1}
		out := hh.path("out.txt")
		run := hh.startProg("cr_run", []string{bin(t, "cr_run"), prog(t, "sharers"), "16", "100", "3"}, out)
		job := hh.jobOf(run)
		hh.waitOutput(hh.path("cr_run.stderr"), wait30, "three workers ready", func(d []byte) (bool, error) {
			return strings.Count(string(d), "ready ") == 3, nil
		}, run)
		hh.waitSeq(out, seq, 3, wait30, run)
		dir := hh.path("ck")
		hh.mustCkptDir(dir, "--kill", strconv.Itoa(job))
		endedBy(t, run, syscall.SIGKILL)
		before, _ := os.Stat(dir)
		rs := hh.start("cr_restart", []string{bin(t, "cr_restart"), "--checkpoint-signal", "USR1", dir}, startOpts{})
		t.Cleanup(func() { killRestored(job, rs.pid) })
		hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, rs)
		syscall.Kill(rs.pid, syscall.SIGUSR1)
		hh.waitOutput(out, wait30, "the directory replaced", func([]byte) (bool, error) {
			st, err := os.Stat(filepath.Join(dir, "context"))
			now, _ := os.Stat(dir)
			return err == nil && st != nil && !os.SameFile(now, before), nil
		}, rs)
		if got := names(t, dir); len(got) != 5 {
			t.Fatalf("the agent's checkpoint directory holds %v, want the index and 4 images", got)
		}
		if !rs.wait(wait30) {
			t.Fatalf("the restored sharers did not finish\n%s", rs.describe())
		}
		data, _ := os.ReadFile(out)
		if rs.state.ExitCode() != 0 || !strings.Contains(string(data), "\nresult ok ") {
			t.Fatalf("restored sharers: %s\n%s", rs.state, tail(data, 300))
		}
	})
	t.Run("single", func(t *testing.T) {
		hh := newH(t)
		p, out := hh.counting(3)
		dir := hh.path("ck")
		hh.mustCkptDir(dir, "--kill", strconv.Itoa(p.pid))
		hh.waitReaped(p, "after cr_checkpoint --kill")
		// An index naming a process whose image is missing: refused
		// before anything is built.
		bad := hh.path("bad")
		os.Mkdir(bad, 0o700)
		os.WriteFile(filepath.Join(bad, "context"), []byte(`{"stasis":"checkpoint directory 1","processes":[{"pid":7,"file":"context.7"}]}`), 0o600)
		if r := hh.run(wait30, bin(t, "cr_restart"), bad); r.code == 0 || !strings.Contains(r.stderr, "context.7") {
			t.Fatalf("restart of a directory without its image: %s", r)
		}
		last := hh.lastSeq(out, seqSpec{tickLine, 1})
		rs := hh.start("cr_restart", []string{bin(t, "cr_restart"), "-d", dir}, startOpts{})
		t.Cleanup(func() { killRestored(p.pid, rs.pid) })
		hh.waitSeq(out, seqSpec{tickLine, 1}, last+5, wait30, rs)
		hh.checkRestored(p.pid, rs)
		hh.stopRestored(p.pid, rs)
	})
}

// TestCheckpointDirPolicies: the replacement policies apply to the
// directory as a whole; a directory that is not a checkpoint directory is
// never replaced.
func TestCheckpointDirPolicies(t *testing.T) {
	hh := newH(t)
	p, _ := hh.counting(3)
	pid := strconv.Itoa(p.pid)
	dir := hh.path("ck")
	hh.mustCkptDir(dir, pid)
	first, _ := os.Stat(dir)
	hh.mustCkptDir(dir, pid) // atomic: replaced
	second, _ := os.Stat(dir)
	if os.SameFile(first, second) {
		t.Fatal("a second checkpoint -d did not replace the directory")
	}
	r := hh.ckpt("--noclobber", "-d", dir, pid)
	if r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("--noclobber over a directory: %s", r)
	}
	if st, _ := os.Stat(dir); !os.SameFile(st, second) || len(names(t, dir)) != 2 {
		t.Fatal("--noclobber changed the directory")
	}
	hh.mustCkptDir(dir, "--backup", pid)
	if st, err := os.Stat(dir + ".~1~"); err != nil || !os.SameFile(st, second) {
		t.Fatalf("--backup did not keep the previous directory as ck.~1~: %v", err)
	}
	hh.mustCkptDir(dir, "--clobber", pid)
	other := hh.path("other")
	os.Mkdir(other, 0o700)
	os.WriteFile(filepath.Join(other, "precious"), []byte("keep"), 0o600)
	r = hh.ckpt("-d", other, pid)
	if r.code == 0 || !strings.Contains(r.stderr, "not a checkpoint directory") {
		t.Fatalf("-d onto a directory that holds other files: %s", r)
	}
	if b, _ := os.ReadFile(filepath.Join(other, "precious")); string(b) != "keep" {
		t.Fatal("-d onto another directory touched its files")
	}
	// Nothing is left beside them: counter.out, counter.stderr, ck, ck.~1~, other.
	if got := names(t, hh.dir); len(got) != 5 {
		t.Fatalf("the test directory holds %v", got)
	}
}

// TestCheckpointDirFailures: a cr_checkpoint -d killed midway leaves no
// directory, and over an older one leaves it intact; it still restarts. A
// full disk fails the checkpoint and leaves the older one too.
func TestCheckpointDirFailures(t *testing.T) {
	steps := seqSpec{stepLine, 1}
	t.Run("killed", func(t *testing.T) {
		hh := newH(t)
		out := hh.path("out.txt")
		p := hh.startProg("heap", []string{prog(t, "heap"), "200"}, out)
		hh.waitSeq(out, steps, 2, 60*time.Second, p)
		dir := hh.path("ck")
		killMidway := func() {
			c := hh.start("cr_checkpoint", []string{bin(t, "cr_checkpoint"), "-d", dir, strconv.Itoa(p.pid)}, startOpts{})
			deadline := time.Now().Add(10 * time.Second)
			for statusField(p.pid, "TracerPid") == "0" && time.Now().Before(deadline) && !c.exited() {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // into the pages
			syscall.Kill(c.pid, syscall.SIGKILL)
			if !c.wait(30 * time.Second) {
				t.Fatalf("cr_checkpoint did not end\n%s", c.describe())
			}
		}
		killMidway()
		if got := names(t, hh.dir); strings.Join(got, " ") != "cr_checkpoint.stderr cr_checkpoint.stdout heap.stderr out.txt" {
			t.Fatalf("a cr_checkpoint -d killed midway left %v", got)
		}
		hh.waitSeq(out, steps, hh.lastSeq(out, steps)+2, 60*time.Second, p) // let go, goes on
		hh.mustCkptDir(dir, strconv.Itoa(p.pid))
		good, _ := os.Stat(dir)
		goodFiles := names(t, dir)
		killMidway()
		if st, err := os.Stat(dir); err != nil || !os.SameFile(st, good) || strings.Join(names(t, dir), " ") != strings.Join(goodFiles, " ") {
			t.Fatalf("a cr_checkpoint -d killed midway changed the previous directory: %v %v", err, names(t, dir))
		}
		syscall.Kill(p.pid, syscall.SIGKILL)
		hh.waitReaped(p, "after SIGKILL")
		rs := hh.restart("cr_restart", dir, p.pid, nil)
		hh.waitSeq(out, steps, hh.lastSeq(out, steps)+2, 60*time.Second, rs)
		hh.checkRestored(p.pid, rs)
		hh.stopRestored(p.pid, rs)
	})
	t.Run("time-limit", func(t *testing.T) {
		// libcrprog holds a critical section for 1.5 s: a checkpoint
		// asked for with -t 1 meanwhile is abandoned (status 110).
		hh := newH(t)
		logf := hh.path("libcrprog.log")
		has := func(what string) func([]byte) (bool, error) {
			return func(d []byte) (bool, error) { return strings.Contains(string(d), what), nil }
		}
		run := hh.startProg("cr_run", []string{bin(t, "cr_run"), prog(t, "libcrprog")}, hh.path("out.txt"))
		job := hh.jobOf(run)
		hh.waitOutput(logf, wait30, "tick 5", has("\ntick 5\n"), run)
		dir := hh.path("ck")
		hh.mustCkptDir(dir, strconv.Itoa(job))
		good, _ := os.Stat(dir)
		syscall.Kill(job, syscall.SIGUSR1)
		hh.waitOutput(logf, wait30, "cs entered", has("cs entered\n"), run)
		r := hh.ckpt("--kill", "-t", "1", "-d", dir, strconv.Itoa(job))
		if r.code != 110 || !strings.Contains(r.stderr, "took longer than allowed") {
			t.Fatalf("-d with -t 1 over a 1.5 s critical section: want status 110: %s", r)
		}
		if st, err := os.Stat(dir); err != nil || !os.SameFile(st, good) {
			t.Fatalf("the abandoned checkpoint replaced the previous directory: %v", err)
		}
		if run.exited() {
			t.Fatal("--kill was carried out although the checkpoint was abandoned")
		}
		if got := strings.Join(names(t, hh.dir), " "); got != "ck cr_run.stderr libcrprog.log out.txt" {
			t.Fatalf("the abandoned checkpoint left files: the test directory holds %s", got)
		}
	})
	t.Run("disk-full", func(t *testing.T) {
		hh := newH(t)
		tfs := hh.smallTmpfs()
		p, _ := hh.counting(3)
		dir := filepath.Join(tfs, "ck")
		hh.mustCkptDir(dir, strconv.Itoa(p.pid))
		good, _ := os.Stat(dir)
		r := hh.ckpt("--kill", "-d", dir, strconv.Itoa(p.pid))
		if r.code == 0 || !strings.Contains(r.stderr, "no space left on device") {
			t.Fatalf("a checkpoint -d onto a full disk: %s", r)
		}
		if st, err := os.Stat(dir); err != nil || !os.SameFile(st, good) {
			t.Fatalf("the failed checkpoint replaced the previous directory: %v", err)
		}
		if got := names(t, tfs); len(got) != 1 {
			t.Fatalf("the full disk holds %v, want the one directory", got)
		}
		if p.exited() {
			t.Fatal("--kill was carried out although the checkpoint failed")
		}
	})
}

// mustCkptDir runs cr_checkpoint ARGS... -d dir ID and requires success.
func (hh *h) mustCkptDir(dir string, args ...string) {
	hh.t.Helper()
	r := hh.ckpt(append(args[:len(args)-1:len(args)-1], "-d", dir, args[len(args)-1])...)
	if r.code != 0 {
		hh.t.Fatalf("checkpoint -d failed:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "context")); err != nil {
		hh.t.Fatalf("cr_checkpoint -d exited 0 but wrote no index: %v\n%s", err, r)
	}
}

// names lists the entries of dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	return n
}

// waitZombieChild waits until a child of p is a zombie p has not reaped.
func (hh *h) waitZombieChild(p *proc, out string) {
	hh.t.Helper()
	hh.waitOutput(out, wait30, "a child a zombie", func([]byte) (bool, error) {
		for _, k := range children(p.pid) {
			if st, err := readStat(k); err == nil && st.state == "Z" {
				return true, nil
			}
		}
		return false, nil
	}, p)
}

// smallTmpfs mounts a 300 KiB tmpfs (a disk that fills) in the test's
// directory, or skips the test.
func (hh *h) smallTmpfs() string {
	hh.t.Helper()
	tfs := hh.path("tfs")
	os.Mkdir(tfs, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", tfs).CombinedOutput(); err != nil {
		hh.t.Skipf("cannot mount a small tmpfs here (%v: %s): no full disk to test with", err, out)
	}
	hh.t.Cleanup(func() { exec.Command("umount", "-l", tfs).Run() })
	return tfs
}

// workersFinish restarts test/progs/workers from img (pid its parent's)
// and requires it to finish with the right answer, its ticks going on
// after last.
func (hh *h) workersFinish(img string, pid int, out string, last int64) {
	t := hh.t
	t.Helper()
	rs := hh.restart("cr_restart", img, pid, nil)
	if !rs.wait(wait30) {
		t.Fatalf("the restored workers did not finish\n%s", rs.describe())
	}
	result, _ := os.ReadFile(hh.path("workers.result"))
	if rs.state.ExitCode() != 0 || string(result) != "result ok 420\n" {
		t.Fatalf("restored workers: %s, result %q\n%s", rs.state, result, rs.describe())
	}
	hh.verifySeq(out, seqSpec{tickLine, 1}, last+1)
}
