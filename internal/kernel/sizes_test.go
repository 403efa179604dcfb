package kernel

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The structures exchanged with the kernel, against the kernel's sizes.
func TestSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"user_regs_struct", unsafe.Sizeof(unix.PtraceRegs{}), 27 * 8},
		{"ptrace_rseq_configuration", unsafe.Sizeof(RseqConfig{}), 24},
		{"ptrace_peeksiginfo_args", unsafe.Sizeof(peekSiginfoArgs{}), 16},
		{"mq_attr", unsafe.Sizeof(MqAttr{}), 64},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d bytes, kernel has %d", c.name, c.got, c.want)
		}
	}
}

func TestRegsBytesRoundTrip(t *testing.T) {
	r := unix.PtraceRegs{Rip: 0x401000, Rsp: 0x7ffc0000, Orig_rax: ^uint64(0), Fs_base: 42}
	back, ok := RegsFromBytes(RegsBytes(&r))
	if !ok || back != r {
		t.Fatalf("round trip: %+v, %v", back, ok)
	}
	if _, ok := RegsFromBytes(make([]byte, 10)); ok {
		t.Fatal("short registers accepted")
	}
}
