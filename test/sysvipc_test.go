package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var ipcIdsLine = regexp.MustCompile(`(?m)^ids (-?\d+) (-?\d+)$`)

// TestSysvIPCRefused: a program whose count lives in a System V semaphore
// or passes through a System V message queue is not checkpointed without
// them: the checkpoint fails naming the object, and the program runs on.
// (Before, the image was written without a word, and a restart after the
// object was gone failed in semctl and found the queue empty.)
func TestSysvIPCRefused(t *testing.T) {
	needEngine(t)
	for _, what := range []string{"sem", "msg"} {
		t.Run(what, func(t *testing.T) {
			hh := newH(t)
			out := hh.path("sysvipc.out")
			p := hh.startProg("sysvipc", []string{prog(t, "sysvipc"), what}, out)
			seq := seqSpec{tickLine, 1}
			hh.waitSeq(out, seq, 2, wait30, p)
			b, _ := os.ReadFile(p.stderr)
			m := ipcIdsLine.FindSubmatch(b)
			if m == nil {
				t.Fatalf("no ids line in %s", p.stderr)
			}
			sem, _ := strconv.Atoi(string(m[1]))
			msg, _ := strconv.Atoi(string(m[2]))
			t.Cleanup(func() {
				if sem >= 0 {
					unix.Syscall6(unix.SYS_SEMCTL, uintptr(sem), 0, unix.IPC_RMID, 0, 0, 0)
				}
				if msg >= 0 {
					unix.Syscall(unix.SYS_MSGCTL, uintptr(msg), unix.IPC_RMID, 0)
				}
			})
			r := hh.run(wait30, bin(t, "cr_checkpoint"), "-f", hh.path("img"), strconv.Itoa(p.pid))
			name, id := "System V semaphore set id "+strconv.Itoa(sem), sem
			if what == "msg" {
				name, id = "System V message queue id "+strconv.Itoa(msg), msg
			}
			if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("pid %d: %s", p.pid, name)) || id < 0 {
				t.Fatalf("checkpoint of a program using a %s: want a failure naming it, got\n%s", name, r)
			}
			if _, err := os.Stat(hh.path("img")); err == nil {
				t.Fatal("an image was written although the checkpoint failed")
			}
			hh.waitSeq(out, seq, hh.lastSeq(out, seq)+2, wait30, p)
		})
	}
}
