package kernel

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// childInfo is the start of siginfo_t as waitid fills it for SIGCHLD.
type childInfo struct {
	Signo, Errno, Code, _ int32
	Pid                   int32
	Uid                   uint32
	Status                int32
	_                     [100]byte
}

// si_code values of SIGCHLD.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// PeekExit looks, without consuming anything, at the next wait event of
// tid (__WALL), waiting for one. If it is the task's end it returns true
// and the wait status wait4 would have given.
func PeekExit(tid int) (bool, unix.WaitStatus, error) {
	for {
		var ci childInfo
		_, _, e := unix.Syscall6(unix.SYS_WAITID, unix.P_PID, uintptr(tid), uintptr(unsafe.Pointer(&ci)),
			unix.WEXITED|unix.WSTOPPED|unix.WNOWAIT|unix.WALL, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return false, 0, syserr("waitid", e)
		}
		switch ci.Code {
		case cldExited:
			return true, unix.WaitStatus(ci.Status&0xff) << 8, nil
		case cldKilled:
			return true, unix.WaitStatus(ci.Status & 0x7f), nil
		case cldDumped:
			return true, unix.WaitStatus(ci.Status&0x7f | 0x80), nil
		}
		return false, 0, nil
	}
}
