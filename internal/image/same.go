package image

import (
	"fmt"
	"io"
)

// RecSame says that pages of the process being read are the same as pages
// of a process earlier in the image (the pages forked processes still
// share): arg is the address of the first page in this process, and the
// payload a Same. A restorer copies them from the earlier process, which
// it has already rebuilt, so an image read front to back (a stream) needs
// no seek.
const RecSame RecordType = 5

// sameSize is the length of a RecSame payload.
const sameSize = 24

func init() { recCaps[RecSame] = sameSize }

// Same is where the pages of a RecSame record are found: Len bytes (whole
// pages) at Addr in the process Pid, which comes earlier in the image.
type Same struct {
	Pid  int
	Addr uint64
	Len  uint64
}

// Same writes a RecSame record: the pages at vaddr are those of s.
func (w *Writer) Same(vaddr uint64, s Same) error {
	if s.Len == 0 || s.Len%PageSize != 0 || s.Addr%PageSize != 0 || vaddr%PageSize != 0 {
		return fmt.Errorf("image: pages at %#x same as pid %d %#x, %d bytes: not whole pages", vaddr, s.Pid, s.Addr, s.Len)
	}
	b := make([]byte, sameSize)
	le.PutUint64(b[0:], uint64(s.Pid))
	le.PutUint64(b[8:], s.Addr)
	le.PutUint64(b[16:], s.Len)
	return w.record(RecSame, vaddr, false, sameSize, func(o io.Writer) error { _, err := o.Write(b); return err })
}

// Same reads the payload of the current record, a RecSame, and checks it.
func (r *Reader) Same() (Same, error) {
	if r.cur.Type != RecSame {
		return Same{}, fmt.Errorf("record %d is not a same-pages record", r.n)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return Same{}, err
	}
	if len(b) != sameSize {
		return Same{}, fmt.Errorf("%w: record %d: same-pages record of %d bytes, not %d", ErrCorrupt, r.n, len(b), sameSize)
	}
	s := Same{Pid: int(le.Uint64(b[0:])), Addr: le.Uint64(b[8:]), Len: le.Uint64(b[16:])}
	if s.Pid <= 0 || s.Pid > 1<<22 || s.Len == 0 || s.Len > 1<<40 || s.Len%PageSize != 0 || s.Addr%PageSize != 0 ||
		r.cur.Arg%PageSize != 0 || s.Addr+s.Len < s.Addr || r.cur.Arg+s.Len < r.cur.Arg {
		return Same{}, fmt.Errorf("%w: record %d: pages at %#x same as pid %d %#x, %d bytes: not whole pages of a process",
			ErrCorrupt, r.n, r.cur.Arg, s.Pid, s.Addr, s.Len)
	}
	return s, nil
}
