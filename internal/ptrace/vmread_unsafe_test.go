package ptrace

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestReadSpans reads, from this process, more spans than one
// process_vm_readv takes, and checks every byte; a span that is not
// mapped fails, naming its address.
func TestReadSpans(t *testing.T) {
	const page = 4096
	n := 3*iovMax + 7
	src := make([]byte, 2*n*page)
	for i := range src {
		src[i] = byte(i*7 + i/page)
	}
	base := uint64(uintptr(unsafe.Pointer(&src[0])))
	var spans []Span
	var want []byte
	for i := 0; i < n; i++ { // every other page, of varying lengths
		off := uint64(2 * i * page)
		l := uint64(1 + i%page)
		spans = append(spans, Span{base + off, base + off + l})
		want = append(want, src[off:off+l]...)
	}
	got := make([]byte, len(want))
	err := ReadSpans(os.Getpid(), spans, got)
	// src is known to the kernel only by address: keep the collector
	// from freeing (and the allocator from reusing) it before the read.
	runtime.KeepAlive(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("ReadSpans read other bytes than the spans hold")
	}
	if err := ReadSpans(os.Getpid(), spans, got[:len(got)-1]); err == nil {
		t.Fatal("ReadSpans filled a buffer too small for the spans")
	}

	at, _, e := unix.Syscall6(unix.SYS_MMAP, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
	if e != 0 {
		t.Fatal(e)
	}
	unix.Syscall(unix.SYS_MUNMAP, at+page, page, 0) // the second page is no longer mapped
	defer unix.Syscall(unix.SYS_MUNMAP, at, page, 0)
	buf := make([]byte, 2*page)
	err = ReadSpans(os.Getpid(), []Span{{uint64(at), uint64(at) + 2*page}}, buf)
	if !errors.Is(err, unix.EFAULT) || !bytes.Contains([]byte(err.Error()), []byte("0x")) {
		t.Fatalf("reading across an unmapped page: %v, want EFAULT naming the address", err)
	}
}
