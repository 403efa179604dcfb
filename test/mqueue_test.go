package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	mqTick    = regexp.MustCompile(`(?m)^tick (\d+)$`)
	mqEcho    = regexp.MustCompile(`(?m)^echo (\d+)$`)
	mqGotWant = "got 5 b\ngot 5 d\ngot 3 c\ngot 1 a\ngot 0 e\nempty\n"
)

// lastNumber returns the number of the last line of data that re (whose
// first group is a number) matches, 0 if none.
func lastNumber(data []byte, re *regexp.Regexp) int64 {
	m := re.FindAllSubmatch(data, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[len(m)-1][1]), 10, 64)
	return n
}

// waitNumber waits until the last line of out that re matches carries a
// number of at least atLeast, and returns it; a line saying BAD fails the
// test.
func (hh *h) waitNumber(out string, re *regexp.Regexp, atLeast int64, watch ...*proc) int64 {
	hh.t.Helper()
	var last int64
	hh.waitOutput(out, wait30, fmt.Sprintf("a line matching %s numbered %d or more", re, atLeast), func(data []byte) (bool, error) {
		if i := strings.Index(string(data), "BAD"); i >= 0 {
			return false, fmt.Errorf("the program says %q", tail(data[i:], 1))
		}
		last = lastNumber(data, re)
		return last >= atLeast, nil
	}, watch...)
	return last
}

// mqName returns a queue name of this test run's own, removed at the
// end of the test.
func mqName(t *testing.T, what string) string {
	name := fmt.Sprintf("/stasis-test-%d-%s", os.Getpid(), what)
	mqUnlink(name)
	t.Cleanup(func() { mqUnlink(name) })
	return name
}

// mqUnlink removes the queue name ("/NAME"), reporting whether it was
// there.
func mqUnlink(name string) bool {
	p, _ := unix.BytePtrFromString(name[1:])
	_, _, e := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0)
	return e == 0
}

// mqSend queues text on the queue name at priority prio.
func mqSend(t *testing.T, name, text string, prio uint) {
	t.Helper()
	p, _ := unix.BytePtrFromString(name[1:])
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		t.Fatalf("mq_open %s: %v", name, e)
	}
	defer unix.Close(int(fd))
	b := []byte(text)
	if _, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDSEND, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(prio), 0, 0); e != 0 {
		t.Fatalf("mq_timedsend %s: %v", name, e)
	}
}

// startMqueue starts test/progs/mqueue on the queue name, as uid 65534
// if as is not nil, and waits until it ticks.
func (hh *h) startMqueue(as []string, name string, args ...string) (*proc, string) {
	hh.t.Helper()
	out := hh.path("mqueue.out")
	argv := append([]string{prog(hh.t, "mqueue"), name}, args...)
	var p *proc
	if as != nil {
		p = hh.startNobody("mqueue", argv, out)
	} else {
		p = hh.startProg("mqueue", argv, out)
	}
	hh.waitNumber(out, mqTick, 3, p)
	return p, out
}

// mqDrained has the program (pid, writing out) receive what is queued and
// go on passing counts through the queue, and requires that it got the
// five messages it queued, in order, and echoes on.
func (hh *h) mqDrained(pid int, out string, watch *proc) {
	hh.t.Helper()
	syscall.Kill(pid, syscall.SIGUSR1)
	hh.waitNumber(out, mqEcho, 3, watch)
	b, _ := os.ReadFile(out)
	got := strings.Join(regexp.MustCompile(`(?m)^(got .*|empty)$`).FindAllString(string(b), -1), "\n") + "\n"
	if got != mqGotWant || strings.Contains(string(b), "BAD") {
		hh.t.Fatalf("the program received\n%swant\n%s(output tail:\n%s)", got, mqGotWant, tail(b, 5))
	}
}

// TestMqueue: a program holding a POSIX message queue with five messages
// of three priorities, opened once for writing and once for reading
// without blocking, is checkpointed with --kill and restarted: with the
// queue removed (as root and as uid 65534) it is made again, and the
// program receives the five messages in order, sees EAGAIN once they are
// all read, and goes on echoing counts through the queue; checkpointed
// again while it passes counts (a count may be in the queue at that
// moment), removed and restarted, it goes on without losing one. With the
// queue still there and unchanged the restart uses it; with a message
// added meanwhile the restart fails naming the queue.
func TestMqueue(t *testing.T) {
	needEngine(t)
	for i, c := range []string{"removed", "removed, nobody", "still there", "changed"} {
		t.Run(c, func(t *testing.T) {
			hh := newH(t)
			var as []string
			if strings.HasSuffix(c, "nobody") {
				as = hh.nobody()
			}
			name := mqName(t, strconv.Itoa(i))
			p, out := hh.startMqueue(as, name)
			img := hh.path("img")
			if r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(p.pid))...); r.code != 0 {
				t.Fatalf("checkpoint:\n%s", r)
			}
			hh.waitReaped(p, "checkpointed with --kill")
			switch c {
			case "changed":
				mqSend(t, name, "x", 2)
			case "still there":
			default:
				if !mqUnlink(name) {
					t.Fatalf("the queue %s was gone after the checkpoint", name)
				}
			}
			b, _ := os.ReadFile(out)
			last := lastNumber(b, mqTick)
			r := hh.restartAs("restart", as, img)
			t.Cleanup(func() { killRestored(p.pid, r.pid) })
			if c == "changed" {
				if !r.wait(wait30) || r.state.Success() {
					t.Fatalf("restart with a message added to the queue: want a failure\n%s", r.describe())
				}
				if e, _ := os.ReadFile(r.stderr); !strings.Contains(string(e), "POSIX message queue "+name+": exists with other messages (6 queued; the image has 5)") {
					t.Fatalf("the failure does not say so, naming the queue:\n%s", e)
				}
				return
			}
			hh.waitNumber(out, mqTick, last+3, r)
			job, _ := nsPid(t, r.pid, int64(p.pid), r) // in a pid namespace of its own as uid 65534
			hh.mqDrained(job, out, r)

			// A second generation, while counts pass through the queue.
			at := hh.waitNumber(out, mqEcho, 5, r)
			if r2 := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(job))...); r2.code != 0 {
				t.Fatalf("second checkpoint:\n%s", r2)
			}
			if !r.wait(10 * time.Second) {
				t.Fatalf("cr_restart did not exit once its process was checkpointed with --kill\n%s", r.describe())
			}
			if c != "still there" && !mqUnlink(name) {
				t.Fatalf("the queue %s was gone after the second checkpoint", name)
			}
			r = hh.restartAs("restart2", as, img)
			t.Cleanup(func() { killRestored(p.pid, r.pid) })
			hh.waitNumber(out, mqEcho, at+10, r)
			if b, _ := os.ReadFile(out); strings.Contains(string(b), "BAD") {
				t.Fatalf("a count went astray:\n%s", tail(b, 5))
			}
			killRestored(p.pid, r.pid)
		})
	}
}

// waitHelpersGone waits until none of our children but the test's
// process p is alive (a queue reader outlives a checkpointer killed
// while it works), reaping those that are done.
func (hh *h) waitHelpersGone(p *proc, trial string) {
	hh.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var live []int
		for _, pid := range children(os.Getpid()) {
			if st, err := readStat(pid); err == nil && pid != p.pid {
				if st.state == "Z" {
					var ws syscall.WaitStatus
					syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
					continue
				}
				live = append(live, pid)
			}
		}
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			hh.t.Fatalf("%s: children %v still alive 10 s on", trial, live)
		}
	}
}

// TestMqueueCheckpointKilled: reading a POSIX message queue takes its
// messages, so a checkpointer killed while it reads one must not lose
// them. cr_checkpoint is killed once while its queue reader holds every
// message (a fault it is told to inject), then at 30 random moments
// (alone, or with its process group), as root and as uid 65534: the
// program then still receives its five messages in order.
func TestMqueueCheckpointKilled(t *testing.T) {
	needEngine(t)
	for i, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			hh := newH(t)
			var as []string
			if user == "nobody" {
				as = hh.nobody()
			}
			p, out := hh.startMqueue(as, mqName(t, "killed"+strconv.Itoa(i)))
			stderr, err := os.Create(hh.path("checkpoint.stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer stderr.Close()
			full, ok := hh.killedCheckpoint(as, p.pid, nil, -1, false, stderr)
			if !ok {
				t.Fatalf("cr_checkpoint failed:\n%s", tailFile(stderr.Name()))
			}
			if _, done := hh.killedCheckpoint(as, p.pid, []string{"STASIS_TEST_KILL_MQUEUE_READER=1"}, -1, false, stderr); done {
				t.Fatalf("cr_checkpoint told to die while its queue reader holds the messages finished")
			}
			hh.waitHelpersGone(p, "killed while the reader held the messages")
			hh.unharmed(p, "killed while the reader held the messages")
			for n := range 30 {
				delay := time.Duration(rand.Int64N(int64(full * 11 / 10)))
				trial := fmt.Sprintf("trial %d (killed %v into a %v checkpoint, group %v)", n, delay, full, n%2 == 1)
				hh.killedCheckpoint(as, p.pid, nil, delay, n%2 == 1, stderr)
				hh.waitHelpersGone(p, trial)
				hh.unharmed(p, trial)
			}
			if b, _ := os.ReadFile(stderr.Name()); strings.Contains(string(b), "lost") {
				t.Fatalf("a queue reader lost messages:\n%s", tail(b, 10))
			}
			hh.mqDrained(p.pid, out, p)
		})
	}
}
