package kernel

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const archGetXcompSupp = 0x1021 // ARCH_GET_XCOMP_SUPP

// XFeatures returns the xsave features this kernel and CPU give user space:
// the mask the kernel also writes at byte 464 (USER_XSTATE_XCR0_WORD) of
// every NT_X86_XSTATE regset it returns, XCR0 in effect.
func XFeatures() (uint64, error) {
	var mask uint64
	_, _, e := unix.Syscall(unix.SYS_ARCH_PRCTL, archGetXcompSupp, uintptr(unsafe.Pointer(&mask)), 0)
	if e != 0 {
		return 0, syserr("arch_prctl(ARCH_GET_XCOMP_SUPP)", e)
	}
	return mask, nil
}
