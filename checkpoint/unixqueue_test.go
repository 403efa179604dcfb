package checkpoint

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// TestPeekQueueInFlight: peeking a queue (on a socket of our own) finds a
// pipe end in flight that we hold as that fd, and the sender's
// credentials under SO_PASSCRED; it takes nothing from the queue. A pipe
// end in flight that nobody holds is refused, naming it; so are
// credentials of a sender that is not live.
func TestPeekQueueInFlight(t *testing.T) {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	if err := unix.SetsockoptInt(sp[1], unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	if err := unix.Sendmsg(sp[0], []byte("one"), unix.UnixRights(p[1]), nil, 0); err != nil {
		t.Fatal(err)
	}
	link := func(fd int) string {
		l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	me := os.Getpid()
	rcv := openFd{pid: me, fd: sp[1], link: link(sp[1])}
	all := []openFd{{pid: me, fd: p[0], link: link(p[0])}, {pid: me, fd: p[1], link: link(p[1])}}
	live := map[int]bool{me: true}
	for round := 0; round < 2; round++ { // the second finds the queue as it was
		q, passed, creds, err := peekQueue(rcv, all, live)
		if err != nil {
			t.Fatal(err)
		}
		if len(q) != 1 || string(q[0]) != "one" {
			t.Fatalf("queue %q, want [one]", q)
		}
		if len(passed) != 1 || len(passed[0]) != 1 || passed[0][0].Same == nil || *passed[0][0].Same != (image.FdRef{Pid: me, Fd: p[1]}) {
			t.Fatalf("in flight %+v, want pid %d fd %d", passed, me, p[1])
		}
		if want := (image.Ucred{Pid: me, Uid: os.Geteuid(), Gid: os.Getegid()}); len(creds) != 1 || creds[0] != want {
			t.Fatalf("credentials %+v, want %+v", creds, want)
		}
	}
	if _, _, _, err := peekQueue(rcv, all, map[int]bool{}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("its sender, pid %d", me)) {
		t.Fatalf("a sender not live: got %v, want a refusal naming pid %d", err, me)
	}
	unix.Close(p[1])
	_, _, _, err = peekQueue(rcv, all[:1], live)
	if want := fmt.Sprintf("pid %d fd %d (%s): its queue: message 1: it passes %s, which no process of the checkpoint holds", me, sp[1], rcv.link, all[1].link); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a pipe end nobody holds: got %v, want %q", err, want)
	}
}

// TestPeekQueuePidfd: a message that a receiver with SO_PASSPIDFD would
// get its sender's pidfd with is refused, and the pidfd peeking gave us
// is closed.
func TestPeekQueuePidfd(t *testing.T) {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	if err := unix.SetsockoptInt(sp[1], unix.SOL_SOCKET, unix.SO_PASSPIDFD, 1); err != nil {
		t.Skipf("SO_PASSPIDFD: %v (Linux 6.5 has it)", err)
	}
	if err := unix.Sendmsg(sp[0], []byte("one"), nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	l, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", sp[1]))
	_, _, _, err = peekQueue(openFd{pid: me, fd: sp[1], link: l}, nil, map[int]bool{me: true})
	if err == nil || !strings.Contains(err.Error(), "SCM_PIDFD") {
		t.Fatalf("got %v, want a refusal naming SCM_PIDFD", err)
	}
	after, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d fds open before peeking, %d after", len(before), len(after))
	}
}
