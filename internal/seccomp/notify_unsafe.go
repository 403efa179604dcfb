package seccomp

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Notif is struct seccomp_notif: one system call waiting for an answer.
type Notif struct {
	ID    uint64
	Pid   uint32 // the calling thread, in the listener's pid namespace
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// notifResp is struct seccomp_notif_resp.
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// Recv waits for the next notification on listener. It retries on EINTR
// and on ENOENT (the caller was killed before we read it).
func Recv(listener int) (Notif, error) {
	for {
		var n Notif
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)))
		if e == unix.EINTR || e == unix.ENOENT {
			continue
		}
		if e != 0 {
			return n, os.NewSyscallError("ioctl(SECCOMP_IOCTL_NOTIF_RECV)", e)
		}
		return n, nil
	}
}

// Continue lets the call of notification id go on into the kernel.
// A caller that has gone away in the meantime is not an error.
func Continue(listener int, id uint64) error {
	r := notifResp{ID: id, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&r)))
	if e != 0 && !errors.Is(e, unix.ENOENT) {
		return os.NewSyscallError("ioctl(SECCOMP_IOCTL_NOTIF_SEND)", e)
	}
	return nil
}
