package seccomp

import (
	"testing"
	"unsafe"
)

// The sizes are those encoded in the kernel's ioctl numbers.
func TestSizes(t *testing.T) {
	if s := unsafe.Sizeof(Notif{}); s != 0x50 {
		t.Errorf("seccomp_notif is %d bytes, want 80", s)
	}
	if s := unsafe.Sizeof(notifResp{}); s != 0x18 {
		t.Errorf("seccomp_notif_resp is %d bytes, want 24", s)
	}
}
