package proc

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ZeroPFN is the physical frame of the kernel's shared zero page, which
// every anonymous page that was read but never written maps; 0 when
// pagemap hides frame numbers (they are shown to CAP_SYS_ADMIN only).
func ZeroPFN() uint64 {
	page := os.Getpagesize()
	b, err := unix.Mmap(-1, 0, page, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return 0
	}
	defer unix.Munmap(b)
	if b[0] != 0 { // the read fault maps the zero page
		return 0
	}
	pm, err := OpenPagemap(os.Getpid())
	if err != nil {
		return 0
	}
	defer pm.Close()
	addr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	e, err := pm.Read(addr, addr+uint64(page), nil)
	if err != nil || e[0]&PMPresent == 0 {
		return 0
	}
	return e[0] & PMPFNMask
}
