package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// okLine is selfcheck's progress line.
var okLine = regexp.MustCompile(`(?m)^ok (\d+)$`)

// selfchecking starts test/progs/selfcheck (16 MiB) as the user as runs
// (nil: us) and waits until it has checked itself a few times.
func (hh *h) selfchecking(as []string) (*proc, string) {
	hh.t.Helper()
	out := hh.path("selfcheck.out")
	p := hh.startProg("selfcheck", append(as, prog(hh.t, "selfcheck"), "16"), out)
	if as != nil {
		os.Chown(out, 65534, 65534)
	}
	hh.waitSeq(out, seqSpec{okLine, 1}, 3, wait30, p)
	return p, out
}

// victim starts selfcheck as user (root or nobody) and returns the
// command prefix that acts as that user, the process, its output file and
// a file for the checkpoints' stderr.
func (hh *h) victim(user string) ([]string, *proc, string, *os.File) {
	hh.t.Helper()
	var as []string
	if user == "nobody" {
		as = hh.nobody()
	}
	p, out := hh.selfchecking(as)
	stderr, err := os.Create(hh.path("checkpoint.stderr"))
	if err != nil {
		hh.t.Fatal(err)
	}
	hh.t.Cleanup(func() { stderr.Close() })
	return as, p, out, stderr
}

// killedCheckpoint runs cr_checkpoint of pid as the user as runs, with
// env added to its environment, and kills it with SIGKILL after delay
// (alone, or with its whole process group), or lets it finish if delay
// is negative. It returns how long it ran and whether it finished.
func (hh *h) killedCheckpoint(as []string, pid int, env []string, delay time.Duration, group bool, stderr *os.File) (time.Duration, bool) {
	hh.t.Helper()
	argv := append(as, bin(hh.t, "cr_checkpoint"), "-f", hh.path("img"), fmt.Sprint(pid))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = hh.dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		hh.t.Fatal(err)
	}
	if delay >= 0 {
		time.Sleep(delay)
		if group {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		} else {
			syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	cmd.Wait()
	return time.Since(start), cmd.ProcessState.Success()
}

// unharmed fails the test unless, within 5 s, the target is alive, not
// stopped, not traced and without children, and no guard of a killed
// checkpointer is still alive; it reaps the guards that are done.
func (hh *h) unharmed(p *proc, trial string) {
	hh.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := readStat(p.pid)
		tracer := statusField(p.pid, "TracerPid")
		kids := children(p.pid)
		guards := hh.guards()
		switch {
		case p.exited() || err != nil:
			hh.t.Fatalf("%s: the target is gone\n%s\nits output ends:\n%s", trial, p.describe(), tailFile(p.stdout))
		case st.state == "T" || st.state == "t" || tracer != "0" || len(kids) > 0 || len(guards) > 0:
			if time.Now().After(deadline) {
				hh.t.Fatalf("%s: 5 s on, the target is in state %s, traced by %s, with children %v; live guards %v",
					trial, st.state, tracer, kids, guards)
			}
			time.Sleep(5 * time.Millisecond)
		default:
			return
		}
	}
}

// guards returns our live children other than the test's own processes:
// the snapshot guards of killed checkpointers, reparented to us (we are a
// subreaper). Dead ones are reaped.
func (hh *h) guards() []int {
	var live []int
	for _, pid := range children(os.Getpid()) {
		st, err := readStat(pid)
		if err != nil || st.comm != "cr_checkpoint" {
			continue
		}
		if st.state == "Z" {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			continue
		}
		live = append(live, pid)
	}
	return live
}

// finishes has the target check all of its memory and end, and fails the
// test unless it found everything as it left it.
func (hh *h) finishes(p *proc, out string, from int64) {
	hh.t.Helper()
	hh.waitSeq(out, seqSpec{okLine, 1}, from+3, wait30, p)
	syscall.Kill(p.pid, syscall.SIGUSR1)
	if !p.wait(wait30) {
		hh.t.Fatalf("selfcheck did not end on SIGUSR1\n%s", p.describe())
	}
	b, _ := os.ReadFile(out)
	if !p.state.Success() || !regexp.MustCompile(`(?m)^final \d+ [0-9a-f]+$`).Match(b) || strings.Contains(string(b), "BAD") {
		hh.t.Fatalf("selfcheck found itself changed: %v\nits output ends:\n%s", p.state, tail(b, 5))
	}
}

func tailFile(path string) string {
	b, _ := os.ReadFile(path)
	return tail(b, 5)
}

// noGuardComplaints fails the test if a guard reported what it could not
// clean up.
func (hh *h) noGuardComplaints(stderr string) {
	hh.t.Helper()
	b, _ := os.ReadFile(stderr)
	if strings.Contains(string(b), "snapshot guard") {
		hh.t.Fatalf("a snapshot guard failed:\n%s", tail(b, 10))
	}
}

// TestKillCheckpointerAnyMoment kills cr_checkpoint (or its whole process
// group) with SIGKILL at 200 random moments spread over the checkpoint of
// a process that checks its own registers, flags, signal mask and memory,
// as root and as uid 65534: the process must never crash, stop, change or
// be left traced, with a child, or with a guard still running, and the
// next checkpoint leaves nothing but its image.
func TestKillCheckpointerAnyMoment(t *testing.T) {
	needEngine(t)
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			hh := newH(t)
			as, p, out, stderr := hh.victim(user)
			full, ok := hh.killedCheckpoint(as, p.pid, nil, -1, false, stderr)
			if !ok {
				t.Fatalf("cr_checkpoint of selfcheck failed:\n%s", tailFile(stderr.Name()))
			}
			finished := 0
			for i := range 200 {
				delay := time.Duration(rand.Int64N(int64(full * 11 / 10)))
				trial := fmt.Sprintf("trial %d (killed %v into a %v checkpoint, group %v)", i, delay, full, i%2 == 1)
				if _, done := hh.killedCheckpoint(as, p.pid, nil, delay, i%2 == 1, stderr); done {
					finished++
				}
				hh.unharmed(p, trial)
			}
			t.Logf("%d of 200 checkpoints finished before the kill (a full one takes %v)", finished, full)
			hh.noGuardComplaints(stderr.Name())
			// A checkpoint killed between naming its image and renaming
			// it into place leaves the name; the next one removes it.
			if _, ok := hh.killedCheckpoint(as, p.pid, nil, -1, false, stderr); !ok {
				t.Fatalf("cr_checkpoint after the kills failed:\n%s", tailFile(stderr.Name()))
			}
			if ents, _ := os.ReadDir(hh.dir); len(ents) > 0 {
				for _, e := range ents {
					if n := e.Name(); n != "img" && !strings.HasSuffix(n, ".stdout") && !strings.HasSuffix(n, ".stderr") && n != filepath.Base(out) {
						t.Errorf("left behind in the image directory: %s", n)
					}
				}
			}
			hh.finishes(p, out, hh.lastSeq(out, seqSpec{okLine, 1}))
		})
	}
}

// TestKillCheckpointerEachStep kills cr_checkpoint at each step of each
// system call it runs inside the target (a fault it is told to inject),
// which random kills reach only by chance: the target must carry on
// unharmed after every one.
func TestKillCheckpointerEachStep(t *testing.T) {
	needEngine(t)
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			hh := newH(t)
			as, p, out, stderr := hh.victim(user)
			// Every call at one of its five steps in turn, until a
			// checkpoint runs out of calls and finishes; then the last
			// calls (the snapshot's fork among them) at every step.
			calls := 0
			for n := 1; calls == 0; n++ {
				if n > 1000 {
					t.Fatal("cr_checkpoint was never killed by the fault it was told to inject")
				}
				steps := []int{1 + n%5}
				if n <= 2 {
					steps = []int{1, 2, 3, 4, 5}
				}
				for _, s := range steps {
					env := []string{fmt.Sprintf("STASIS_TEST_KILL_AT=%d:%d", n, s)}
					if _, done := hh.killedCheckpoint(as, p.pid, env, -1, false, stderr); done {
						calls = n - 1
						break
					}
					hh.unharmed(p, fmt.Sprintf("killed at call %d step %d", n, s))
				}
			}
			if calls < 10 {
				t.Fatalf("a checkpoint made only %d calls inside the target", calls)
			}
			for n := calls - 3; n <= calls; n++ {
				for s := 1; s <= 5; s++ {
					env := []string{fmt.Sprintf("STASIS_TEST_KILL_AT=%d:%d", n, s)}
					if _, done := hh.killedCheckpoint(as, p.pid, env, -1, false, stderr); done {
						t.Fatalf("a checkpoint told to die at call %d step %d of %d finished", n, s, calls)
					}
					hh.unharmed(p, fmt.Sprintf("killed at call %d step %d", n, s))
				}
			}
			t.Logf("%d calls inside the target, each killed at one step, the last four at all five", calls)
			hh.noGuardComplaints(stderr.Name())
			hh.finishes(p, out, hh.lastSeq(out, seqSpec{okLine, 1}))
		})
	}
}
