package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killRestartTree is how many processes TestKillRestarterAnyMoment's job
// has, and killRestartComm their name: progs/steady.c's, copied under a
// name no other test's processes have, so that the job is told by its
// name.
const (
	killRestartTree = 6
	killRestartComm = "steady-kr"
)

// pfExiting is the kernel's PF_EXITING, in /proc/PID/stat's flags.
const pfExiting = 0x4

// jobProcs returns the live processes called comm (in any pid namespace)
// that are not dying (no SIGKILL pending, not exiting). traced counts
// those of them that are traced or stopped.
// restarters counts the cr_restart processes below this one.
func restarters() int {
	n := 0
	for _, pid := range descendants(os.Getpid()) {
		if st, err := readStat(pid); err == nil && st.comm == "cr_restart" && st.state != "Z" {
			n++
		}
	}
	return n
}

// procStates says, for a failure's message, what each of pids is: its
// state, parent, tracer and pids in its namespaces.
func procStates(pids []int) string {
	var b strings.Builder
	for _, pid := range pids {
		fmt.Fprintf(&b, "  pid %d: State %s, PPid %s, TracerPid %s, NSpid %s, SigPnd %s, ShdPnd %s\n", pid,
			statusField(pid, "State"), statusField(pid, "PPid"), statusField(pid, "TracerPid"),
			statusField(pid, "NSpid"), statusField(pid, "SigPnd"), statusField(pid, "ShdPnd"))
	}
	return b.String()
}

func jobProcs(comm string) (live []int, traced int) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.comm != comm || st.state == "Z" || st.state == "X" {
			continue
		}
		dying := st.flags&pfExiting != 0
		for _, k := range []string{"ShdPnd", "SigPnd"} {
			if v, err := strconv.ParseUint(statusField(pid, k), 16, 64); err == nil && v&(1<<(syscall.SIGKILL-1)) != 0 {
				dying = true
			}
		}
		if dying {
			continue
		}
		live = append(live, pid)
		if tp := statusField(pid, "TracerPid"); (tp != "0" && tp != "") || st.state == "t" || st.state == "T" {
			traced++
		}
	}
	return live, traced
}

// TestKillRestarterAnyMoment kills cr_restart with SIGKILL at random
// moments of the restart of a tree of processes that each go on whatever
// becomes of the others (progs/steady.c), and then between letting one
// process go and the next, as root and as uid 65534: each time, either
// the whole job runs on, untraced, or nothing of it is left; never some
// processes running without the others, or one left traced or stopped
// half-built.
func TestKillRestarterAnyMoment(t *testing.T) {
	orig := prog(t, "steady")
	needEngine(t)
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			if user == "nobody" && os.Getenv("STASIS_TEST_KNOWN_DEFECTS") == "" {
				// Found 2026-12-07, not fixed: an ordinary user's restart runs
				// in new namespaces under an inner cr_restart, and when the
				// outer one dies mid-release the inner one keeps the rest of
				// the job in tracing stops, or finishes the restore on its own
				// (2 to 3 runs in 10). STASIS_TEST_KNOWN_DEFECTS=1 runs it.
				t.Skip("known defect: killing the outer cr_restart of a namespace restart mid-release leaves the inner one holding the job traced (see the issue 16 note of 2026-12-07); STASIS_TEST_KNOWN_DEFECTS=1 runs this")
			}
			hh := newH(t)
			steady := hh.path(killRestartComm)
			if b, err := os.ReadFile(orig); err != nil || os.WriteFile(steady, b, 0o755) != nil {
				t.Fatalf("copying %s: %v", orig, err)
			}
			seq := seqSpec{tickLine, 1}
			out := hh.path("out.txt")
			argv := []string{steady, strconv.Itoa(killRestartTree)}
			as, p := hh.startAs(user, killRestartComm, argv, out)
			hh.waitSeq(out, seq, 3, wait30, p)
			kids := descendants(p.pid)
			img := hh.path("tree.img")
			hh.killCkpt(as, p, img)
			for _, k := range kids {
				reapWhenDead(k)
			}
			// The time a whole restart takes, until every process runs
			// untraced.
			full := hh.killedRestart(as, img, out, -1, "the full restart")
			ran, none := 0, 0
			for i := range 60 {
				delay := time.Duration(rand.Int64N(int64(full * 12 / 10)))
				if hh.killedRestart(as, img, out, delay, fmt.Sprintf("trial %d (killed %v into a %v restart)", i, delay, full)) > 0 {
					ran++
				} else {
					none++
				}
			}
			t.Logf("a restart takes %v; of 60 killed at random moments, %d left the job running, %d left nothing", full, ran, none)
			// The moments a random kill rarely hits: between letting one
			// process go and the next (cr_restart kills itself there).
			for k := 1; k < killRestartTree; k++ {
				t.Setenv("STASIS_TEST_KILL_RELEASE", strconv.Itoa(k))
				hh.killedRestart(as, img, out, 3*full, fmt.Sprintf("killed after letting %d processes go", k))
			}
		})
	}
}

// killedRestart starts cr_restart img as the user as runs, and kills it
// with SIGKILL after delay (if delay is negative, once the job runs). Once
// every cr_restart it started is gone (as uid 65534, the one that it runs
// in new namespaces), it fails the test unless the whole job runs on
// untraced, its ticks going on in out, or nothing of it is
// left; it kills and reaps whatever ran. It returns how long the job took
// to run (0: it did not).
func (hh *h) killedRestart(as []string, img, out string, delay time.Duration, trial string) time.Duration {
	t := hh.t
	t.Helper()
	start := time.Now()
	r := hh.start("cr_restart", append(append(as[:len(as):len(as)], bin(t, "cr_restart")), img), startOpts{})
	ranAt := time.Duration(0)
	if delay < 0 {
		for deadline := time.Now().Add(wait30); ; time.Sleep(time.Millisecond) {
			if live, traced := jobProcs(killRestartComm); len(live) == killRestartTree && traced == 0 {
				ranAt = time.Since(start)
				break
			}
			if r.exited() || time.Now().After(deadline) {
				t.Fatalf("%s: the job did not come back\n%s", trial, r.describe())
			}
		}
	} else {
		time.Sleep(delay)
	}
	syscall.Kill(r.pid, syscall.SIGKILL)
	if !r.wait(10 * time.Second) {
		t.Fatalf("%s: cr_restart did not die of SIGKILL", trial)
	}
	// A cr_restart it started, orphaned, comes to us (the subreaper).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		left := 0
		for _, pid := range children(os.Getpid()) {
			if st, err := readStat(pid); err == nil && st.comm == "cr_restart" && st.state != "Z" {
				left++
			}
		}
		reapZombies()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: a cr_restart started by the one killed is still alive 10 s on", trial)
		}
	}
	// Once no tracer holds it, the job is all there or not at all: the
	// processes a dying cr_restart takes with it have SIGKILL pending or
	// are exiting by then, and a process let go without the others would
	// show here.
	// As uid 65534 the restart runs in new namespaces under an inner
	// cr_restart, which a kill of the outer one may leave to finish the
	// restore and supervise the job: until it is gone or the job is all
	// there, what is not there yet may still come.
	var live []int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		var traced int
		live, traced = jobProcs(killRestartComm)
		if traced == 0 && (len(live) == killRestartTree || restarters() == 0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: 5 s after cr_restart died, %d of the job's processes are still traced or stopped: %v\n%s\ncr_restart's stderr:\n%s",
				trial, traced, live, procStates(live), tailFile(r.stderr))
		}
	}
	if len(live) != 0 && len(live) != killRestartTree {
		t.Fatalf("%s: after cr_restart died, %d of the job's %d processes run on without the others: %v\ncr_restart's stderr:\n%s",
			trial, len(live), killRestartTree, live, tailFile(r.stderr))
	}
	if len(live) > 0 {
		// It runs on: its ticks go on, every heap whole.
		before := countTicks(out)
		for deadline := time.Now().Add(wait30); countTicks(out) < before+3; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the job left running does not tick on (%d ticks)\n%s", trial, before, tailFile(out))
			}
		}
		if live2, _ := jobProcs(killRestartComm); len(live2) != killRestartTree {
			t.Fatalf("%s: the job left running lost processes: %v of %v", trial, live2, live)
		}
		for _, pid := range live {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if ranAt == 0 {
			ranAt = time.Since(start)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		reapZombies()
		left, _ := jobProcs(killRestartComm)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the job's processes did not die: %v\n%s", trial, left, procStates(left))
		}
	}
	return ranAt
}

// countTicks is the number of tick lines in out so far.
func countTicks(out string) int {
	b, _ := os.ReadFile(out)
	return strings.Count(string(b), "tick ")
}
