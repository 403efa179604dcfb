package kernel

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MqAttr is the kernel's struct mq_attr.
type MqAttr struct {
	Flags    int64 // O_NONBLOCK, the only flag
	MaxMsg   int64
	MsgSize  int64
	CurMsgs  int64
	reserved [4]int64
}

// MqGetAttr returns the attributes of the POSIX message queue open at fd
// (mq_getsetattr).
func MqGetAttr(fd int) (MqAttr, error) {
	var a MqAttr
	if _, _, e := unix.Syscall(unix.SYS_MQ_GETSETATTR, uintptr(fd), 0, uintptr(unsafe.Pointer(&a))); e != 0 {
		return a, syserr("mq_getsetattr", e)
	}
	return a, nil
}

// MqReceive takes the first message of the queue open at fd into buf
// (which must hold mq_msgsize bytes) and returns its length and priority.
// It waits until the deadline at most (a zero deadline: not at all; the
// call then fails with ETIMEDOUT on an empty queue, or EAGAIN if the
// description is non-blocking).
func MqReceive(fd int, buf []byte, deadline time.Time) (int, uint32, error) {
	ts := realtime(deadline)
	var prio uint32
	for {
		n, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDRECEIVE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)),
			uintptr(unsafe.Pointer(&prio)), uintptr(unsafe.Pointer(&ts)), 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, 0, syserr("mq_timedreceive", e)
		}
		return int(n), prio, nil
	}
}

// MqSend queues b at priority prio on the queue open at fd, waiting for
// room until the deadline at most (zero: not at all).
func MqSend(fd int, b []byte, prio uint32, deadline time.Time) error {
	ts := realtime(deadline)
	for {
		_, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
			uintptr(prio), uintptr(unsafe.Pointer(&ts)), 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return syserr("mq_timedsend", e)
		}
		return nil
	}
}

// MqUnlink removes the queue named name (with its leading slash).
func MqUnlink(name string) error {
	p, err := unix.BytePtrFromString(name[min(1, len(name)):])
	if err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0); e != 0 {
		return syserr("mq_unlink", e)
	}
	return nil
}

// realtime is deadline as an absolute CLOCK_REALTIME timespec; the zero
// time is the epoch, long past.
func realtime(deadline time.Time) unix.Timespec {
	if deadline.IsZero() {
		return unix.Timespec{}
	}
	return unix.NsecToTimespec(deadline.UnixNano())
}
