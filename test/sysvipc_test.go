package e2e

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

var ipcIdsLine = regexp.MustCompile(`(?m)^ids (-?\d+) (-?\d+)$`)

// TestSysvIPC: a program whose count lives in a System V semaphore and
// passes through a System V message queue (one message always queued) is
// checkpointed with them: restarted after both were removed, it finds them
// made again with their ids, value and message, and counts on from where
// it was; restarted while they still exist, it uses them as they are. As
// uid 65534, whose restart cannot choose an id, a removed set fails the
// restart, naming it.
func TestSysvIPC(t *testing.T) {
	needEngine(t)
	for _, c := range []string{"removed", "still there", "removed, nobody"} {
		t.Run(c, func(t *testing.T) {
			hh := newH(t)
			var as []string
			if strings.HasSuffix(c, "nobody") {
				as = hh.nobody()
			}
			out := hh.path("sysvipc.out")
			p := hh.startProg("sysvipc", append(as, prog(t, "sysvipc"), "both"), out)
			if as != nil {
				os.Chown(out, 65534, 65534)
			}
			seq := seqSpec{tickLine, 1}
			hh.waitSeq(out, seq, 3, wait30, p)
			b, _ := os.ReadFile(p.stderr)
			m := ipcIdsLine.FindSubmatch(b)
			if m == nil {
				t.Fatalf("no ids line in %s", p.stderr)
			}
			sem, _ := strconv.Atoi(string(m[1]))
			msg, _ := strconv.Atoi(string(m[2]))
			remove := func() {
				unix.Syscall6(unix.SYS_SEMCTL, uintptr(sem), 0, unix.IPC_RMID, 0, 0, 0)
				unix.Syscall(unix.SYS_MSGCTL, uintptr(msg), unix.IPC_RMID, 0)
			}
			t.Cleanup(remove)
			img := hh.path("img")
			if r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(p.pid))...); r.code != 0 {
				t.Fatalf("checkpoint:\n%s", r)
			}
			hh.waitReaped(p, "checkpointed with --kill")
			last := hh.lastSeq(out, seq)
			if c != "still there" {
				remove()
			}
			r := hh.restartAs("restart", as, img)
			t.Cleanup(func() { killRestored(p.pid, r.pid) })
			if as != nil {
				if !r.wait(wait30) || r.state.Success() {
					t.Fatalf("uid 65534 restarting with its semaphore set gone: want a failure\n%s", r.describe())
				}
				if e, _ := os.ReadFile(r.stderr); !strings.Contains(string(e), "System V semaphore set id "+strconv.Itoa(sem)) {
					t.Fatalf("the failure does not name the set:\n%s", e)
				}
				return
			}
			hh.waitSeq(out, seq, last+3, wait30, r)
			hh.verifySeq(out, seq, last+3) // on from where it was, not from 1
			syscall.Kill(p.pid, syscall.SIGKILL)
		})
	}
}
