package kernel

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	archGetXcompSupp = 0x1021 // ARCH_GET_XCOMP_SUPP
	archGetXcompPerm = 0x1022 // ARCH_GET_XCOMP_PERM
)

// XFeatures returns the xsave features this kernel and CPU give user space:
// the mask the kernel also writes at byte 464 (USER_XSTATE_XCR0_WORD) of
// every NT_X86_XSTATE regset it returns, XCR0 in effect.
func XFeatures() (uint64, error) {
	return archPrctlMask(archGetXcompSupp, "arch_prctl(ARCH_GET_XCOMP_SUPP)")
}

// XcompPerm returns the xsave features the calling process may use
// (ARCH_GET_XCOMP_PERM): those every process may, unless it asked for
// more.
func XcompPerm() (uint64, error) {
	return archPrctlMask(archGetXcompPerm, "arch_prctl(ARCH_GET_XCOMP_PERM)")
}

// archPrctlMask runs an arch_prctl that writes a 64-bit mask.
func archPrctlMask(op uintptr, name string) (uint64, error) {
	var mask uint64
	_, _, e := unix.Syscall(unix.SYS_ARCH_PRCTL, op, uintptr(unsafe.Pointer(&mask)), 0)
	if e != 0 {
		return 0, syserr(name, e)
	}
	return mask, nil
}
