package proc

import (
	"os"
	"reflect"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// timersText is /proc/self/timers as Linux 6.18 prints it (newest first).
const timersText = "ID: 3\nsignal: 12/00000000deadbeef\nnotify: signal/tid.10049\nClockID: -6\n" +
	"ID: 2\nsignal: 12/00000000deadbeef\nnotify: none/pid.10049\nClockID: 7\n" +
	"ID: 1\nsignal: 14/0000000000000001\nnotify: signal/pid.10049\nClockID: 0\n" +
	"ID: 0\nsignal: 10/ffffffffffffffff\nnotify: thread/pid.10049\nClockID: 1\n"

func TestParseTimers(t *testing.T) {
	got, err := ParseTimers([]byte(timersText))
	want := []Timer{
		{ID: 0, Signal: 10, SigevValue: 1<<64 - 1, Notify: "thread", NotifyPid: 10049, Clock: 1},
		{ID: 1, Signal: 14, SigevValue: 1, Notify: "signal", NotifyPid: 10049, Clock: 0},
		{ID: 2, Signal: 12, SigevValue: 0xdeadbeef, Notify: "none", NotifyPid: 10049, Clock: 7},
		{ID: 3, Signal: 12, SigevValue: 0xdeadbeef, Notify: "signal", NotifyPid: 10049, NotifyTid: true, Clock: -6},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseTimers = %+v, %v\nwant %+v", got, err, want)
	}
	if got, err := ParseTimers(nil); err != nil || len(got) != 0 {
		t.Errorf("ParseTimers(nil) = %v, %v", got, err)
	}
	for _, bad := range []string{
		"signal: 14/0\n", "ID: x\n", "ID:0\n", "ID: 0\nsignal: 14\n", "ID: 0\nsignal: x/0\n",
		"ID: 0\nsignal: 14/zz\n", "ID: 0\nnotify: signal\n", "ID: 0\nnotify: signal/pid\n",
		"ID: 0\nnotify: bogus/pid.1\n", "ID: 0\nnotify: signal/xid.1\n", "ID: 0\nnotify: signal/pid.x\n",
		"ID: 0\nClockID: one\n",
	} {
		if got, err := ParseTimers([]byte(bad)); err == nil {
			t.Errorf("ParseTimers(%q) = %+v, want an error", bad, got)
		}
	}
}

// sigevent is struct sigevent (64 bytes on Linux).
type sigevent struct {
	value  uint64
	signo  int32
	notify int32
	tid    int32
	_      [44]byte
}

const (
	sigevNone     = 1
	sigevThreadID = 4
)

func timerCreate(t *testing.T, clock int, ev *sigevent) int {
	t.Helper()
	var id int32
	_, _, e := unix.Syscall(unix.SYS_TIMER_CREATE, uintptr(clock), uintptr(unsafe.Pointer(ev)), uintptr(unsafe.Pointer(&id)))
	if e != 0 {
		t.Fatalf("timer_create: %v", e)
	}
	t.Cleanup(func() { unix.Syscall(unix.SYS_TIMER_DELETE, uintptr(id), 0, 0) })
	return int(id)
}

func TestReadTimersSelf(t *testing.T) {
	pid, tid := os.Getpid(), unix.Gettid() // the timers are never armed, so tid need not stay ours
	id1 := timerCreate(t, unix.CLOCK_MONOTONIC, &sigevent{value: 0xdeadbeef, signo: int32(unix.SIGUSR2)})
	id2 := timerCreate(t, unix.CLOCK_BOOTTIME, &sigevent{value: 5, signo: int32(unix.SIGUSR1), notify: sigevThreadID, tid: int32(tid)})
	id3 := timerCreate(t, unix.CLOCK_REALTIME, &sigevent{notify: sigevNone})
	timers, err := ReadTimers(pid)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Timer{
		id1: {ID: id1, Signal: int(unix.SIGUSR2), SigevValue: 0xdeadbeef, Notify: "signal", NotifyPid: pid, Clock: unix.CLOCK_MONOTONIC},
		id2: {ID: id2, Signal: int(unix.SIGUSR1), SigevValue: 5, Notify: "signal", NotifyPid: tid, NotifyTid: true, Clock: unix.CLOCK_BOOTTIME},
		id3: {ID: id3, Notify: "none", NotifyPid: pid, Clock: unix.CLOCK_REALTIME},
	}
	found := 0
	for _, tm := range timers {
		if w, ok := want[tm.ID]; ok {
			found++
			if tm != w {
				t.Errorf("timer %d = %+v, want %+v", tm.ID, tm, w)
			}
		}
	}
	if found != len(want) {
		t.Errorf("found %d of our %d timers in %+v", found, len(want), timers)
	}
}
