package proc

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
)

// Bits of a pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
// The PFN (bits 0-54) reads as zero without CAP_SYS_ADMIN.
const (
	PMPresent   uint64 = 1 << 63
	PMSwapped   uint64 = 1 << 62
	PMFile      uint64 = 1 << 61 // file page or shared anonymous
	PMExclusive uint64 = 1 << 56 // page exclusively mapped
	PMSoftDirty uint64 = 1 << 55
	PMPFNMask   uint64 = 1<<55 - 1
)

// pmChunk is the number of entries read per pread (4 MiB of buffer,
// covering 2 GiB of address space).
const pmChunk = 1 << 19

// Pagemap holds an open /proc/pid/pagemap. It is not safe for concurrent
// use.
type Pagemap struct {
	pid  int
	f    *os.File
	buf  []byte
	page uint64
}

// OpenPagemap opens /proc/pid/pagemap.
func OpenPagemap(pid int) (*Pagemap, error) {
	p := path(pid, "pagemap")
	f, err := kernel.OpenFile(p, os.O_RDONLY)
	if err != nil {
		return nil, fileErr(pid, p, err)
	}
	return &Pagemap{pid: pid, f: f, page: uint64(os.Getpagesize())}, nil
}

// Read returns one entry per page of [start, end), both page-aligned, in
// out[:n] if out is large enough and in a new slice otherwise. It reads in
// chunks of up to pmChunk entries with pread. A range beyond the task's
// address space (such as [vsyscall]) reads short and is an error wrapping
// io.ErrUnexpectedEOF.
func (p *Pagemap) Read(start, end uint64, out []uint64) ([]uint64, error) {
	if start%p.page != 0 || end%p.page != 0 || start > end {
		return nil, p.err(fmt.Errorf("bad range %#x-%#x", start, end))
	}
	n := int((end - start) / p.page)
	if cap(out) < n {
		out = make([]uint64, n)
	}
	out = out[:n]
	if len(p.buf) < 8*min(n, pmChunk) {
		p.buf = make([]byte, 8*min(n, pmChunk))
	}
	for done := 0; done < n; {
		want := min(n-done, len(p.buf)/8)
		b := p.buf[:8*want]
		off := int64((start/p.page + uint64(done)) * 8)
		if err := readFull(p.f, b, off); err != nil {
			return nil, p.err(fmt.Errorf("at %#x: %w", start+uint64(done)*p.page, err))
		}
		for i := range want {
			out[done+i] = binary.NativeEndian.Uint64(b[8*i:])
		}
		done += want
	}
	return out, nil
}

// readFull preads len(b) bytes at off, retrying on EINTR and short reads.
func readFull(f *os.File, b []byte, off int64) error {
	for got := 0; got < len(b); {
		n, err := unix.Pread(int(f.Fd()), b[got:], off+int64(got))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		got += n
	}
	return nil
}

func (p *Pagemap) err(err error) error {
	return fileErr(p.pid, path(p.pid, "pagemap"), err)
}

// Close closes the file.
func (p *Pagemap) Close() error { return p.f.Close() }
