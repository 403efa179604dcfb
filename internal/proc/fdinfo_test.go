package proc

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// Literal fdinfo texts as Linux 6.18 prints them.
const (
	fiHead    = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t26\n"
	fiEventfd = fiHead + "eventfd-count:               2a\neventfd-id: 2\neventfd-semaphore: 1\n"
	fiEpoll   = fiHead + "tfd:        5 events: 80000019 data:        900000007  pos:0 ino:1a sdev:10\n" +
		"tfd:       12 events:       19 data: ffffffffffffffff  pos:7 ino:3c4a3 sdev:fe00000\n"
	fiTimerfd = fiHead + "clockid: 1\nticks: 3\nsettime flags: 01\nit_value: (99, 999983683)\nit_interval: (2, 0)\n"
	fiSigfd   = fiHead + "sigmask:\t0000000000000a00\n"
	fiInotify = fiHead + "inotify wd:1 ino:3c4a3 sdev:fe00000 mask:100 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a3c4030000000000\n"
	fiFan     = fiHead + "fanotify flags:0 event-flags:8000\n"
	fiFile    = "pos:\t1516\nflags:\t0100001\nmnt_id:\t26\nino:\t9977939\nlock:\t1: POSIX  ADVISORY  WRITE 1 fe:00:9977939 0 EOF\n"
)

func TestParseFdInfo(t *testing.T) {
	head := FdInfo{Flags: 0o2000002, MntID: 17, Ino: 26}
	with := func(f func(*FdInfo)) FdInfo { fi := head; f(&fi); return fi }
	cases := []struct {
		text string
		want FdInfo
	}{
		{fiEventfd, with(func(f *FdInfo) { f.IsEventfd, f.EventfdCount, f.EventfdSemaphore = true, 42, true })},
		{fiEpoll, with(func(f *FdInfo) {
			f.IsEpoll = true
			f.Epoll = []EpollTfd{{Fd: 5, Events: 0x80000019, Data: 0x900000007, Ino: 0x1a, Sdev: 0x10},
				{Fd: 12, Events: 0x19, Data: 1<<64 - 1, Pos: 7, Ino: 0x3c4a3, Sdev: 0xfe00000}}
		})},
		{fiTimerfd, with(func(f *FdInfo) {
			f.Timerfd = &TimerfdInfo{Clock: 1, Ticks: 3, SettimeFlags: 1, ValueSec: 99, ValueNsec: 999983683, IntervalSec: 2}
		})},
		{fiSigfd, with(func(f *FdInfo) { f.IsSignalfd, f.SignalfdMask = true, 0xa00 })},
		{fiInotify, with(func(f *FdInfo) {
			f.Inotify = true
			f.InotifyWatches = []InotifyWatch{{Wd: 1, Ino: 0x3c4a3, Sdev: 0xfe00000, Mask: 0x100, HandleType: 1, Handle: []byte{0xa3, 0xc4, 3, 0, 0, 0, 0, 0}}}
		})},
		{fiFan, with(func(f *FdInfo) { f.Fanotify = true })},
		{fiFile, FdInfo{Pos: 1516, Flags: 0o100001, MntID: 26, Ino: 9977939}},
	}
	for _, c := range cases {
		got, err := ParseFdInfo([]byte(c.text))
		if err != nil || !reflect.DeepEqual(*got, c.want) {
			t.Errorf("ParseFdInfo(%q) = %+v, %v\nwant %+v", c.text, got, err, c.want)
		}
	}
}

func TestParseFdInfoErrors(t *testing.T) {
	for _, bad := range []string{
		"pos:\tx\n", "flags:\t0800\n", "mnt_id:\t\n", "ino:\t-1\n", "no colon\n",
		"eventfd-count: xyz\n", "eventfd-semaphore: 2\n",
		"tfd: 5\n", "tfd: 5 events: 1 data:\n", "tfd: x events: 1 data: 2\n", "tfd: 5 event: 1 data: 2\n",
		"tfd: 5 events: 100000000 data: 2\n", "tfd: 5 events: 1 data: 2 pos:x\n", "tfd: 5 events: 1 data: 2 ino:zz\n",
		"clockid: one\n", "ticks: -1\n", "settime flags: 8\n",
		"it_value: 1, 2\n", "it_value: (1 2)\n", "it_interval: (1, x)\n", "it_interval: (1, 2\n",
		"sigmask:\tnothex\n",
	} {
		if fi, err := ParseFdInfo([]byte(fiHead + bad)); err == nil {
			t.Errorf("ParseFdInfo(%q) = %+v, want an error", bad, fi)
		}
	}
}

func selfFdInfo(t *testing.T, fd int, link string) *FdInfo {
	t.Helper()
	fi, err := ReadFdInfo(os.Getpid(), fd)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FdLink(os.Getpid(), fd)
	if err != nil || got != link {
		t.Errorf("FdLink(%d) = %q, %v; want %q", fd, got, err, link)
	}
	return fi
}

func ino(t *testing.T, fd int) uint64 {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func closeLater(t *testing.T, fd int, err error) int {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func TestFdInfoLive(t *testing.T) {
	efd, err := unix.Eventfd(42, unix.EFD_SEMAPHORE|unix.EFD_CLOEXEC)
	closeLater(t, efd, err)
	fi := selfFdInfo(t, efd, "anon_inode:[eventfd]")
	if !fi.IsEventfd || fi.EventfdCount != 42 || !fi.EventfdSemaphore || fi.Flags&unix.O_CLOEXEC == 0 || fi.Flags&unix.O_ACCMODE != unix.O_RDWR {
		t.Errorf("eventfd: %+v", fi)
	}

	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	closeLater(t, p[0], nil)
	closeLater(t, p[1], nil)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	closeLater(t, ep, err)
	if empty := selfFdInfo(t, ep, "anon_inode:[eventpoll]"); empty.IsEpoll || len(empty.Epoll) != 0 {
		t.Errorf("empty epoll: %+v", empty)
	}
	ev1 := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: 7, Pad: 9}
	ev2 := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: -1, Pad: -1}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &ev1); err != nil {
		t.Fatal(err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, p[1], &ev2); err != nil {
		t.Fatal(err)
	}
	fi = selfFdInfo(t, ep, "anon_inode:[eventpoll]")
	// The kernel always adds EPOLLERR|EPOLLHUP to a registered mask.
	always := uint32(unix.EPOLLERR | unix.EPOLLHUP)
	want := []EpollTfd{
		{Fd: efd, Events: ev1.Events | always, Data: 9<<32 | 7, Ino: ino(t, efd)},
		{Fd: p[1], Events: ev2.Events | always, Data: 1<<64 - 1, Ino: ino(t, p[1])},
	}
	slices.SortFunc(fi.Epoll, func(a, b EpollTfd) int { return a.Fd - b.Fd })
	for i := range fi.Epoll {
		fi.Epoll[i].Sdev = 0
	}
	if !fi.IsEpoll || !reflect.DeepEqual(fi.Epoll, want) {
		t.Errorf("epoll: %+v\nwant %+v", fi.Epoll, want)
	}

	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	closeLater(t, tfd, err)
	spec := unix.ItimerSpec{Value: unix.Timespec{Sec: 100}, Interval: unix.Timespec{Sec: 2}}
	if err := unix.TimerfdSettime(tfd, 0, &spec, nil); err != nil {
		t.Fatal(err)
	}
	fi = selfFdInfo(t, tfd, "anon_inode:[timerfd]")
	tf := fi.Timerfd
	if tf == nil || tf.Clock != unix.CLOCK_MONOTONIC || tf.Ticks != 0 || tf.SettimeFlags != 0 ||
		tf.ValueSec < 90 || tf.ValueSec > 100 || tf.ValueNsec < 0 || tf.ValueNsec >= 1e9 ||
		tf.IntervalSec != 2 || tf.IntervalNsec != 0 {
		t.Errorf("timerfd: %+v", tf)
	}
	tfd2, err := unix.TimerfdCreate(unix.CLOCK_REALTIME, 0)
	closeLater(t, tfd2, err)
	var now unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &now)
	abs := unix.ItimerSpec{Value: unix.Timespec{Sec: now.Sec + 1000}}
	if err := unix.TimerfdSettime(tfd2, unix.TFD_TIMER_ABSTIME, &abs, nil); err != nil {
		t.Fatal(err)
	}
	if tf := selfFdInfo(t, tfd2, "anon_inode:[timerfd]").Timerfd; tf == nil || tf.Clock != unix.CLOCK_REALTIME ||
		tf.SettimeFlags != unix.TFD_TIMER_ABSTIME || tf.ValueSec < 990 || tf.ValueSec > 1000 {
		t.Errorf("absolute timerfd: %+v (value is the time left)", tf)
	}

	var set unix.Sigset_t
	set.Val[0] = 1<<(unix.SIGUSR1-1) | 1<<(unix.SIGUSR2-1)
	sfd, err := unix.Signalfd(-1, &set, unix.SFD_CLOEXEC)
	closeLater(t, sfd, err)
	if fi := selfFdInfo(t, sfd, "anon_inode:[signalfd]"); !fi.IsSignalfd || fi.SignalfdMask != set.Val[0] {
		t.Errorf("signalfd: %+v, want mask %#x", fi, set.Val[0])
	}

	in, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	closeLater(t, in, err)
	if fi := selfFdInfo(t, in, "anon_inode:inotify"); fi.Inotify {
		t.Errorf("inotify without watches: %+v", fi)
	}
	if _, err := unix.InotifyAddWatch(in, t.TempDir(), unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	if fi := selfFdInfo(t, in, "anon_inode:inotify"); !fi.Inotify {
		t.Errorf("inotify: %+v", fi)
	}

	if fan, err := unix.FanotifyInit(unix.FAN_CLOEXEC, unix.O_RDONLY); err == nil {
		closeLater(t, fan, nil)
		if fi := selfFdInfo(t, fan, "anon_inode:[fanotify]"); !fi.Fanotify {
			t.Errorf("fanotify: %+v", fi)
		}
	} else {
		t.Logf("fanotify_init: %v", err)
	}
}

func TestFdInfoFile(t *testing.T) {
	name := t.TempDir() + "/f"
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("hello")
	fd := int(f.Fd())
	fi := selfFdInfo(t, fd, name)
	if fi.Pos != 5 || fi.Flags&unix.O_ACCMODE != unix.O_WRONLY || fi.Flags&unix.O_APPEND == 0 ||
		fi.Flags&unix.O_CLOEXEC == 0 || fi.Ino != ino(t, fd) || fi.MntID <= 0 {
		t.Errorf("file fdinfo: %+v", fi)
	}
	fds, err := Fds(os.Getpid())
	if err != nil || !slices.Contains(fds, fd) || !slices.IsSorted(fds) || fds[0] != 0 {
		t.Errorf("Fds(self) = %v, %v; want sorted, holding %d", fds, err, fd)
	}
	f.Close()
	if _, err := ReadFdInfo(os.Getpid(), fd); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFdInfo(closed fd) error = %v, want ErrNotExist", err)
	}
}

// TestParseInotifyWatch: the watch descriptor is hex, and a file system
// that gives no file handle leaves it out.
func TestParseInotifyWatch(t *testing.T) {
	w, err := parseInotify("1a ino:10 sdev:800001 mask:80000300 ignored_mask:0")
	if err != nil || w.Wd != 26 || w.Ino != 16 || w.Sdev != 0x800001 || w.Mask != 0x80000300 || w.HandleType != -1 || w.Handle != nil {
		t.Fatalf("got %+v, %v", w, err)
	}
	for _, bad := range []string{"", "1", "zz ino:1 sdev:1 mask:1", "1 ino:1 sdev:1", "1 ino:1 sdev:1 mask:1 f_handle:xyz"} {
		if _, err := parseInotify(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
