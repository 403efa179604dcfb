package e2e

// Restart anywhere: an ordinary user keeping pids and thread ids (in new
// user and pid namespaces), --no-restore-pid, a pid clash as root, and
// clocks that must not go back.

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

	"golang.org/x/sys/unix"
)

// idsLine is what test/progs/ids prints.
var idsLine = regexp.MustCompile(`^tick (\d+) pid (\d+) tids (\d+),(\d+),(\d+) start (\d+),(\d+),(\d+) timer (\d+) mono (\d+) boot (\d+) clocks (ok|BACK)(?: child (\d+) ppid (\d+) n (\d+))?$`)

// ids is one line of test/progs/ids.
type ids struct {
	tick, pid         int64
	tids, start       [3]int64
	timer, mono, boot int64
	clocksOK          bool
	child, cppid, n   int64 // with "fork"
}

// lastIDs parses the last complete line of out.
func lastIDs(t *testing.T, out string) ids {
	t.Helper()
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if !strings.HasSuffix(string(data), "\n") {
		lines = lines[:len(lines)-1]
	}
	m := idsLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("%s: last line %q is not one of ids", out, lines[len(lines)-1])
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(m[i], 10, 64); return v }
	return ids{tick: n(1), pid: n(2), tids: [3]int64{n(3), n(4), n(5)}, start: [3]int64{n(6), n(7), n(8)},
		timer: n(9), mono: n(10), boot: n(11), clocksOK: m[12] == "ok", child: n(13), cppid: n(14), n: n(15)}
}

// nobody returns the argv prefix that runs a command as uid 65534, and
// lets that user reach the test's directory and the test programs.
func (hh *h) nobody() []string {
	hh.t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		hh.t.Skipf("setpriv is not installed (%v): cannot act as another user", err)
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		hh.t.Skip("user namespaces are disabled (user.max_user_namespaces = 0)")
	}
	for _, d := range []string{hh.dir, filepath.Dir(hh.dir), filepath.Dir(progDir), progDir} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(hh.dir, os.ModeSticky|0o777) // sticky: what uid 65534 writes there only it may replace
	return []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
}

// startNobody starts argv as uid 65534 with its stdout to out, and gives
// that user its output files, which a restart by it reopens.
func (hh *h) startNobody(name string, argv []string, out string) *proc {
	hh.t.Helper()
	p := hh.startProg(name, append(hh.nobody(), argv...), out)
	for _, f := range []string{out, p.stderr} {
		if err := os.Chown(f, 65534, 65534); err != nil {
			hh.t.Fatal(err)
		}
	}
	return p
}

// startAs starts argv as user ("nobody": uid 65534, see startNobody;
// anything else: root) with its stdout to out, and returns the command
// prefix that acts as that user (nil for root) and the process.
func (hh *h) startAs(user, name string, argv []string, out string) ([]string, *proc) {
	hh.t.Helper()
	if user == "nobody" {
		return hh.nobody(), hh.startNobody(name, argv, out)
	}
	return nil, hh.startProg(name, argv, out)
}

// killCkpt checkpoints p with --kill into img, as the user as says (nil:
// root), and waits for p to be gone.
func (hh *h) killCkpt(as []string, p *proc, img string) {
	hh.t.Helper()
	if r := hh.run(wait30, append(as[:len(as):len(as)], bin(hh.t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(p.pid))...); r.code != 0 {
		hh.t.Fatalf("checkpoint:\n%s", r)
	}
	hh.waitReaped(p, "--kill")
}

// restartAs starts cr_restart with args, its argv prefixed by as.
func (hh *h) restartAs(name string, as []string, args ...string) *proc {
	hh.t.Helper()
	return hh.start(name, append(append(as[:len(as):len(as)], bin(hh.t, "cr_restart")), args...), startOpts{})
}

// nsPid finds, among the descendants of root, the process that knows
// itself as pid inside its pid namespace, and returns its pid as we see
// it and its NSpid columns.
func nsPid(t *testing.T, root int, pid int64, r *proc) (int, []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, d := range descendants(root) {
			cols := strings.Fields(statusField(d, "NSpid"))
			if len(cols) > 0 && cols[len(cols)-1] == strconv.FormatInt(pid, 10) && statusField(d, "TracerPid") == "0" {
				return d, cols
			}
		}
		if time.Now().After(deadline) || r.exited() {
			t.Fatalf("no process below pid %d knows itself as pid %d\n%s", root, pid, r.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sameIDs requires after to continue before with the same pid and tids.
func sameIDs(t *testing.T, before, after ids) {
	t.Helper()
	if after.pid != before.pid || after.tids != before.tids || after.start != before.start {
		t.Fatalf("ids changed across the restart:\nbefore %+v\nafter  %+v", before, after)
	}
	if after.tids != after.start {
		t.Fatalf("the threads' tids %v differ from those they remember %v", after.tids, after.start)
	}
	continued(t, before, after)
}

// continued requires the counters of after to have gone on from before.
func continued(t *testing.T, before, after ids) {
	t.Helper()
	if after.timer <= before.timer {
		t.Fatalf("the SIGEV_THREAD_ID timer stopped: %d signals before, %d after", before.timer, after.timer)
	}
	if !after.clocksOK || after.mono < before.mono || after.boot < before.boot {
		t.Fatalf("the clocks went back:\nbefore %+v\nafter  %+v", before, after)
	}
	if before.child != 0 && (after.n <= before.n || after.cppid != after.pid) {
		t.Fatalf("the child did not go on: before %+v\nafter %+v", before, after)
	}
}

// TestNsUnprivileged: an ordinary user restarts its own jobs, which keep
// their pids and thread ids (in new user and pid namespaces) and go on:
// a single-threaded counter, and a multi-threaded program with a child
// joined by a pipe and a timer aimed at one thread. The second is
// checkpointed again through its new agent, by its pid as seen outside
// and by cr_restart's, and restarts again with the same ids.
func TestNsUnprivileged(t *testing.T) {
	ids := prog(t, "ids")
	counter := prog(t, "counter")
	t.Run("counter", func(t *testing.T) {
		hh := newH(t)
		as := hh.nobody()
		out := hh.path("out.txt")
		p := hh.startNobody("counter", []string{counter}, out)
		last := hh.waitSeq(out, seqSpec{tickLine, 1}, 5, wait30, p)
		img := hh.path("c.img")
		hh.killCkpt(as, p, img)
		rs := hh.restartAs("cr_restart", as, img)
		hh.waitSeq(out, seqSpec{tickLine, 1}, last+5, wait30, rs)
		job, cols := nsPid(t, rs.pid, int64(p.pid), rs)
		if len(cols) != 2 || statusField(job, "Uid") == "" || !strings.HasPrefix(statusField(job, "Uid"), "65534") {
			t.Fatalf("restored counter %d: NSpid %v, Uid %q: want pid %d in a pid namespace below ours, uid 65534", job, cols, statusField(job, "Uid"), p.pid)
		}
		// A signal to the outer cr_restart reaches the job, and it ends
		// as the job ended.
		syscall.Kill(rs.pid, syscall.SIGTERM)
		endedBy(t, rs, syscall.SIGTERM)
		if !waitGone(job, 10*time.Second) {
			t.Fatalf("pid %d outlived its cr_restart", job)
		}
	})
	t.Run("threads-and-child", func(t *testing.T) {
		hh := newH(t)
		as := hh.nobody()
		out := hh.path("out.txt")
		seq := seqSpec{idsLine, 1}
		p := hh.startNobody("ids", []string{ids, "fork"}, out)
		hh.waitSeq(out, seq, 5, wait30, p)
		img := hh.path("1.img")
		hh.killCkpt(as, p, img)
		before := lastIDs(t, out)
		rs := hh.restartAs("cr_restart", as, img)
		hh.waitSeq(out, seq, before.tick+5, wait30, rs)
		sameIDs(t, before, lastIDs(t, out))
		job, cols := nsPid(t, rs.pid, before.pid, rs)
		if len(cols) != 2 {
			t.Fatalf("restored pid %d: NSpid %v, want two levels", job, cols)
		}

		// Through the agent: by root, by the job's pid as we see it (--run;
		// root shows as the overflow uid in the job's user namespace, and
		// is let in all the same), then by its user, by cr_restart's pid
		// (--kill).
		img2, img3 := hh.path("2.img"), hh.path("3.img")
		if r := hh.run(wait30, bin(t, "cr_checkpoint"), "-f", img2, strconv.Itoa(job)); r.code != 0 {
			t.Fatalf("checkpoint by root, by the job's outside pid %d:\n%s", job, r)
		}
		other := hh.path("other.img")
		if r := hh.run(wait30, as[0], "--reuid=65533", "--regid=65533", "--clear-groups", bin(t, "cr_checkpoint"), "-f", other, strconv.Itoa(job)); r.code == 0 {
			t.Fatalf("uid 65533 checkpointed uid 65534's job:\n%s", r)
		}
		if _, err := os.Stat(other); err == nil {
			t.Fatal("uid 65533's refused checkpoint left an image")
		}
		mid := hh.waitSeq(out, seq, before.tick+10, wait30, rs)
		if r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "--kill", "-f", img3, strconv.Itoa(rs.pid))...); r.code != 0 {
			t.Fatalf("checkpoint by cr_restart's pid %d:\n%s", rs.pid, r)
		}
		endedBy(t, rs, syscall.SIGKILL)
		before2 := lastIDs(t, out)
		if before2.tick < mid {
			t.Fatalf("the second image was taken at tick %d, before %d", before2.tick, mid)
		}
		rs2 := hh.restartAs("cr_restart2", as, img3)
		hh.waitSeq(out, seq, before2.tick+5, wait30, rs2)
		sameIDs(t, before, lastIDs(t, out))
		continued(t, before2, lastIDs(t, out))
		if _, err := os.Stat(img2); err != nil {
			t.Fatalf("the --run checkpoint wrote no image: %v", err)
		}
		// Killing the outer cr_restart ends the whole namespace.
		job2, _ := nsPid(t, rs2.pid, before.pid, rs2)
		syscall.Kill(rs2.pid, syscall.SIGKILL)
		if !waitGone(job2, 10*time.Second) {
			t.Fatalf("pid %d outlived its cr_restart", job2)
		}
	})
}

// TestNsUnprivilegedRefused: an ordinary user cannot restart root's image;
// it says why and leaves nothing running.
func TestNsUnprivilegedRefused(t *testing.T) {
	hh := newH(t)
	as := hh.nobody()
	out := hh.path("out.txt")
	p := hh.startProg("counter", []string{prog(t, "counter")}, out)
	hh.waitSeq(out, seqSpec{tickLine, 1}, 3, wait30, p)
	img := hh.path("root.img")
	hh.checkpoint("--kill", p.pid, img, wait30)
	hh.waitReaped(p, "--kill")
	os.Chmod(img, 0o444)
	r := hh.run(wait30, append(as, bin(t, "cr_restart"), img)...)
	if r.code == 0 || !strings.Contains(r.stderr, "another user") && !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("uid 65534 restarting root's image:\n%s", r)
	}
	if kids := descendants(os.Getpid()); len(kids) != 0 {
		t.Fatalf("processes left running after a failed restart: %v", kids)
	}
}

// TestNsNoRestorePid: --no-restore-pid gives new pids and tids, without a
// namespace, as root and as an ordinary user; the program's child, its
// timer aimed at a thread and its counters go on.
func TestNsNoRestorePid(t *testing.T) {
	ids := prog(t, "ids")
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			hh := newH(t)
			var as []string
			out := hh.path("out.txt")
			var p *proc
			if user == "nobody" {
				as = hh.nobody()
				p = hh.startNobody("ids", []string{ids, "fork"}, out)
			} else {
				p = hh.startProg("ids", []string{ids, "fork"}, out)
			}
			seq := seqSpec{idsLine, 1}
			hh.waitSeq(out, seq, 5, wait30, p)
			img := hh.path("1.img")
			hh.killCkpt(as, p, img)
			before := lastIDs(t, out)
			rs := hh.restartAs("cr_restart", as, "--no-restore-pid", img)
			hh.waitSeq(out, seq, before.tick+5, wait30, rs)
			after := lastIDs(t, out)
			if after.pid == before.pid || after.tids[1] == before.tids[1] || after.child == before.child {
				t.Fatalf("--no-restore-pid kept old ids:\nbefore %+v\nafter  %+v", before, after)
			}
			if after.start != before.start {
				t.Fatalf("the program's memory changed: %v, was %v", after.start, before.start)
			}
			continued(t, before, after)
			kids := children(rs.pid)
			if len(kids) != 1 || int64(kids[0]) != after.pid {
				t.Fatalf("cr_restart's children are %v, want the restored process %d", kids, after.pid)
			}
			if cols := strings.Fields(statusField(kids[0], "NSpid")); len(cols) != 1 {
				t.Fatalf("pid %d is in a pid namespace of its own (NSpid %v)", kids[0], cols)
			}
			if user == "nobody" && !strings.Contains(rs.describe(), "/proc/"+strconv.FormatInt(after.pid, 10)+"/exe shows the restorer") {
				t.Errorf("no notice that the executable could not be set:\n%s", rs.describe())
			}
		})
	}
}

// TestNsPidClash: root restarting an image whose pid is taken: with
// --restore-pid=strict it fails, saying which pid, and leaves nothing
// running; by default it restarts in a new pid namespace, with a notice.
func TestNsPidClash(t *testing.T) {
	ids := prog(t, "ids")
	hh := newH(t)
	out := hh.path("out.txt")
	seq := seqSpec{idsLine, 1}
	p := hh.startProg("ids", []string{ids, "fork"}, out)
	hh.waitSeq(out, seq, 5, wait30, p)
	img := hh.path("1.img")
	// --stop: the original stays, stopped, holding its pids.
	hh.checkpoint("--stop", p.pid, img, wait30)
	before := lastIDs(t, out)
	alive := descendants(os.Getpid())

	r := hh.run(wait30, bin(t, "cr_restart"), "--restore-pid=strict", img)
	want := fmt.Sprintf("pid %d is in use", before.pid)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("strict restart with pid %d taken: want a failure saying %q\n%s", before.pid, want, r)
	}
	if now := descendants(os.Getpid()); len(now) != len(alive) {
		t.Fatalf("processes left after the failed restart: %v, before it %v", now, alive)
	}

	// The original must not write while the copy runs; it stays stopped.
	rs := hh.restartAs("cr_restart", nil, img)
	hh.waitSeq(out, seq, before.tick+5, wait30, rs)
	sameIDs(t, before, lastIDs(t, out))
	if d := rs.describe(); !strings.Contains(d, "restarting in a new pid namespace") {
		t.Errorf("no notice of the fallback:\n%s", d)
	}
	if _, cols := nsPid(t, rs.pid, before.pid, rs); len(cols) != 2 {
		t.Fatalf("the copy is not in a pid namespace of its own: NSpid %v", cols)
	}
	rs.kill()
	rs.wait(10 * time.Second)

	// From an image on stdin (-F 0), which the fallback reads again.
	in, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	rs = hh.start("cr_restart-F", []string{bin(t, "cr_restart"), "-F", "0"}, startOpts{stdin: in})
	t.Cleanup(func() { rs.kill() })
	hh.waitSeq(out, seq, hh.lastSeq(out, seq)+5, wait30, rs)
	if d := rs.describe(); !strings.Contains(d, "restarting in a new pid namespace") {
		t.Errorf("-F 0: no notice of the fallback:\n%s", d)
	}
}

// TestNsClocks: a program whose clocks run far ahead (in a time namespace
// with a large offset) is checkpointed and restarted outside it: a time
// namespace is made for it, and its clocks never go back.
func TestNsClocks(t *testing.T) {
	ids := prog(t, "ids")
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("unshare is not installed: %v", err)
	}
	if _, err := os.Stat("/proc/self/timens_offsets"); err != nil {
		t.Skipf("no time namespaces in this kernel: %v", err)
	}
	const off = 1000000 // seconds
	timens := []string{unshare, "-T", "--monotonic", strconv.Itoa(off), "--boottime", strconv.Itoa(off)}
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			hh := newH(t)
			out := hh.path("out.txt")
			seq := seqSpec{idsLine, 1}
			var as []string
			var p *proc
			if user == "nobody" {
				// An ordinary user makes a time namespace in a user
				// namespace of its own; the restart makes one inside the
				// user namespace it makes.
				as = hh.nobody()
				argv := append([]string{timens[0], "-U", "--map-user=65534", "--map-group=65534"}, timens[1:]...)
				p = hh.startNobody("ids", append(argv, ids, "fork"), out)
			} else {
				p = hh.startProg("ids", append(timens[:len(timens):len(timens)], ids, "fork"), out)
			}
			hh.waitSeq(out, seq, 5, wait30, p)
			before := lastIDs(t, out)
			var now unix.Timespec
			if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
				t.Fatal(err)
			}
			if before.mono < off*1000 || now.Sec*1000 > before.mono || before.pid != int64(p.pid) {
				t.Fatalf("the program (pid %d, started as %d) reads its clock as %d ms, ours is %d s: not %d s ahead", before.pid, p.pid, before.mono, now.Sec, off)
			}
			hh.killCkpt(as, p, hh.path("1.img"))
			before = lastIDs(t, out)
			reapOrphans() // the child's zombie still names the group, and so holds the pid
			rs := hh.restartAs("cr_restart", as, hh.path("1.img"))
			hh.waitSeq(out, seq, before.tick+5, wait30, rs)
			after := lastIDs(t, out)
			sameIDs(t, before, after)
			t.Logf("monotonic %d ms before, %d ms after; boottime %d ms before, %d after", before.mono, after.mono, before.boot, after.boot)
			job, cols := nsPid(t, rs.pid, after.pid, rs)
			if levels := map[string]int{"root": 1, "nobody": 2}[user]; len(cols) != levels {
				t.Fatalf("pid %d: NSpid %v, want %d levels\n%s", after.pid, cols, levels, rs.describe())
			}
			offsets, err := os.ReadFile(fmt.Sprintf("/proc/%d/timens_offsets", job))
			if err != nil {
				t.Fatalf("%v\n%s", err, rs.describe())
			}
			var sec int64
			if _, err := fmt.Sscanf(string(offsets), "monotonic %d", &sec); err != nil || sec < off-100 {
				t.Fatalf("restored pid %d: timens_offsets %q, want a monotonic offset near %d s", after.pid, offsets, off)
			}
		})
	}
}

// TestNsLibcr: a program that first uses libcr after its job was restarted
// by an ordinary user in a pid namespace finds the agent there (pid 1):
// its callback runs for a checkpoint asked from outside, and it can
// checkpoint itself.
func TestNsLibcr(t *testing.T) {
	libcrprog := prog(t, "libcrprog")
	hh := newH(t)
	as := hh.nobody()
	logf := hh.path("libcrprog.log")
	has := func(what string) func([]byte) (bool, error) {
		return func(d []byte) (bool, error) { return strings.Contains(string(d), what), nil }
	}
	run := hh.startNobody("cr_run", []string{bin(t, "cr_run"), "sh", "-c", "sleep 2; exec " + libcrprog}, hh.path("out.txt"))
	hh.jobOf(run)
	img := hh.path("1.img")
	if r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(run.pid))...); r.code != 0 {
		t.Fatalf("checkpoint of the sleeping shell:\n%s", r)
	}
	endedBy(t, run, syscall.SIGKILL)
	if _, err := os.Stat(logf); err == nil {
		t.Fatal("libcrprog ran before the checkpoint: the test is too slow for its sleep")
	}
	if err := os.WriteFile(logf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(logf, 65534, 65534)
	rs := hh.restartAs("cr_restart", as, img)
	hh.waitOutput(logf, wait30, "tick 5", has("\ntick 5\n"), rs)
	if r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "-f", hh.path("2.img"), strconv.Itoa(rs.pid))...); r.code != 0 {
		t.Fatalf("checkpoint through the namespaced agent:\n%s", r)
	}
	hh.waitOutput(logf, wait30, "callback 1 after: continued", has("callback 1 after: continued <nil>\n"), rs)
	var job int
	for _, d := range descendants(rs.pid) {
		if st, err := readStat(d); err == nil && st.comm == "libcrprog" {
			job = d
		}
	}
	if job == 0 {
		t.Fatalf("no libcrprog below cr_restart pid %d", rs.pid)
	}
	syscall.Kill(job, syscall.SIGUSR2)
	self := hh.path("self.img")
	hh.waitOutput(logf, wait30, "self: continued", has("self: continued "+self+" <nil>\n"), rs)
}

// pythonAs is how to run Python as who ("root" or "nobody"): the prefix
// that makes a command run as uid 65534 (none for root), and a python3
// that user may run (not the one under /root/.pyenv).
func (hh *h) pythonAs(who string) (as []string, py string) {
	hh.t.Helper()
	if who == "nobody" {
		return hh.nobody(), "/usr/bin/python3"
	}
	return nil, python(hh.t)
}
