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

// ErrNoUsers: every process under the filter has exited; no notification
// can come any more.
var ErrNoUsers = errors.New("seccomp listener: no process uses the filter any more")

// Recv waits for the next notification on listener. It retries on EINTR
// and on ENOENT (the caller was killed before we read it), and returns
// ErrNoUsers once the filter has no users: the kernel then answers every
// receive with ENOENT at once, so only poll can tell.
func Recv(listener int) (Notif, error) {
	for {
		var n Notif
		fds := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return n, os.NewSyscallError("poll", err)
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			if fds[0].Revents&unix.POLLHUP != 0 {
				return n, ErrNoUsers
			}
			continue
		}
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
