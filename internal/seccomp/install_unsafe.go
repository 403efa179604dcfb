package seccomp

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install sets no_new_privs, as an unprivileged filter requires, and puts
// the filter on every thread of the calling process. It returns the
// listener fd, or -1 with deny.
func Install(deny bool) (int, error) {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err)
	}
	prog := Program(deny)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	fd, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, Flags(deny), uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return -1, os.NewSyscallError("seccomp(SECCOMP_SET_MODE_FILTER)", e)
	}
	if deny {
		return -1, nil
	}
	return int(fd), nil
}
