package mqueue

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
)

// TestRead: Read returns a queue's messages in the order a receiver gets
// them, and leaves them queued in that order.
func TestRead(t *testing.T) {
	name := fmt.Sprintf("/stasis-mqueue-test-%d", os.Getpid())
	p, _ := unix.BytePtrFromString(name[1:])
	attr := kernel.MqAttr{MaxMsg: 8, MsgSize: 16}
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
	if e != 0 {
		t.Skipf("mq_open: %v (no POSIX message queues here?)", e)
	}
	defer kernel.MqUnlink(name)
	q := os.NewFile(fd, name)
	defer q.Close()
	if msgs, err := Read(q); err != nil || msgs != nil {
		t.Fatalf("empty queue: %v, %v", msgs, err)
	}
	for i, prio := range []uint32{1, 5, 3, 5, 0} {
		if err := kernel.MqSend(int(fd), []byte{'a' + byte(i)}, prio, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	want := []Message{{5, []byte("b")}, {5, []byte("d")}, {3, []byte("c")}, {1, []byte("a")}, {0, []byte("e")}}
	same := func(a, b Message) bool { return a.Prio == b.Prio && string(a.Data) == string(b.Data) }
	for range 2 {
		msgs, err := Read(q)
		if err != nil || !slices.EqualFunc(msgs, want, same) {
			t.Fatalf("Read: %v, %v; want %v", msgs, err, want)
		}
	}
	buf := make([]byte, 16)
	for i, w := range want {
		n, prio, err := kernel.MqReceive(int(fd), buf, time.Time{})
		if err != nil || !same(Message{prio, buf[:n]}, w) {
			t.Fatalf("message %d after Read: %d %q, %v; want %v", i, prio, buf[:n], err, w)
		}
	}
}

func TestDecode(t *testing.T) {
	b := []byte{7, 0, 0, 0, 2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0, 0, 0, 0, 0}
	msgs, err := decode(b)
	if err != nil || len(msgs) != 2 || msgs[0].Prio != 7 || string(msgs[0].Data) != "hi" || len(msgs[1].Data) != 0 {
		t.Fatalf("decode: %v, %v", msgs, err)
	}
	for n := 1; n < 8; n++ {
		if _, err := decode(b[:n]); err == nil {
			t.Errorf("%d bytes: accepted", n)
		}
	}
	if _, err := decode(b[:9]); err == nil {
		t.Error("a message cut short: accepted")
	}
}
