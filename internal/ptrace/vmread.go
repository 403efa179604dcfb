package ptrace

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Span is the range of addresses [Start, End).
type Span struct{ Start, End uint64 }

// iovMax is the kernel's limit on iovecs per call (UIO_MAXIOV).
const iovMax = 1024

// ReadSpans reads the spans of pid's memory, one after another, into buf,
// whose length must be their total, with process_vm_readv: one call per
// 1024 spans, each copying straight from the process's pages into buf.
// Unlike /proc/PID/mem it cannot read mappings without PROT_READ: read
// those with Mem.
func ReadSpans(pid int, spans []Span, buf []byte) error {
	var remote []unix.RemoteIovec
	off := 0
	for len(spans) > 0 {
		n := min(len(spans), iovMax)
		remote = remote[:0]
		size := 0
		for _, s := range spans[:n] {
			l := int(s.End - s.Start)
			remote = append(remote, unix.RemoteIovec{Base: uintptr(s.Start), Len: l})
			size += l
		}
		if off+size > len(buf) {
			return fmt.Errorf("pid %d: read spans: %d bytes do not fit in %d", pid, off+size, len(buf))
		}
		for got := 0; got < size; {
			// A partial read stops at a span boundary or inside one;
			// carry on from where it stopped.
			local := []unix.Iovec{{Base: &buf[off+got]}}
			local[0].SetLen(size - got)
			m, err := unix.ProcessVMReadv(pid, local, skip(remote, got), 0)
			if err != nil || m == 0 {
				at := addrAt(remote, got)
				if err == nil {
					err = unix.EFAULT
				}
				return fmt.Errorf("pid %d: process_vm_readv at %#x: %w", pid, at, err)
			}
			got += m
		}
		off += size
		spans = spans[n:]
	}
	if off != len(buf) {
		return fmt.Errorf("pid %d: read spans: %d bytes read into a buffer of %d", pid, off, len(buf))
	}
	return nil
}

// skip returns the iovecs that remain once n bytes of v are read.
func skip(v []unix.RemoteIovec, n int) []unix.RemoteIovec {
	for len(v) > 0 && n >= v[0].Len {
		n -= v[0].Len
		v = v[1:]
	}
	if n == 0 || len(v) == 0 {
		return v
	}
	out := append([]unix.RemoteIovec{{Base: v[0].Base + uintptr(n), Len: v[0].Len - n}}, v[1:]...)
	return out
}

// addrAt is the remote address n bytes into v.
func addrAt(v []unix.RemoteIovec, n int) uint64 {
	v = skip(v, n)
	if len(v) == 0 {
		return 0
	}
	return uint64(v[0].Base)
}
