package kernel

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// GetsockoptBytes reads a socket option of any layout into buf and
// returns how many bytes the kernel wrote (x/sys/unix has no raw form).
func GetsockoptBytes(fd, level, name int, buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, unix.EINVAL
	}
	n := uint32(len(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
