package image

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// ErrNotSeekable is returned by Skip when the image is not read from a
// file that can seek.
var ErrNotSeekable = errors.New("image is not read from a seekable file")

// Skip passes over what is left of the current record's payload without
// reading it, by seeking the file the Reader reads; its checksum is not
// checked. Record headers and padding that follow are read and checked as
// always. It fails with ErrNotSeekable unless NewReader was given an
// io.Seeker positioned at the start of the image.
func (r *Reader) Skip() error {
	s, ok := r.src.(io.Seeker)
	if !ok {
		return ErrNotSeekable
	}
	if r.closed || r.left == 0 {
		r.closed = true
		return nil
	}
	if buf := uint64(r.r.Buffered()); r.left <= buf {
		r.r.Discard(int(r.left))
	} else {
		r.r.Discard(int(buf))
		if _, err := s.Seek(int64(r.left-buf), io.SeekCurrent); err != nil {
			return fmt.Errorf("image: skipping record %d: %w", r.n, err)
		}
		sk, ok := r.src.(*skipSource)
		if !ok {
			sk = &skipSource{rs: r.src.(io.ReadSeeker)}
			r.src = sk
		}
		sk.small = true
		r.r.Reset(sk)
	}
	r.off += int64(r.left)
	r.left, r.closed = 0, true
	return nil
}

// skipSource is the file a Reader reads after a Skip: its first read
// takes one page, which holds the next record's header and padding, not a
// whole buffer that the next Skip would throw away.
type skipSource struct {
	rs    io.ReadSeeker
	small bool
}

func (s *skipSource) Read(p []byte) (int, error) {
	if s.small && len(p) > PageSize {
		p = p[:PageSize]
	}
	s.small = false
	return s.rs.Read(p)
}

func (s *skipSource) Seek(off int64, whence int) (int64, error) { return s.rs.Seek(off, whence) }

// SkipChecked is Skip, and returns a function that checks the skipped
// payload's checksum, given the payload (read or mapped from the same
// image: the record's Offset and Len say where it lies); the function may
// run later and on another goroutine. It fails as Skip does, or if part of
// the payload was read already.
func (r *Reader) SkipChecked() (func(payload []byte) error, error) {
	if r.left != r.cur.Len || r.closed {
		return nil, fmt.Errorf("image: record %d: payload partly read", r.n)
	}
	rec, start, want, n := r.cur, r.crc, r.prev, r.n
	if err := r.Skip(); err != nil {
		return nil, err
	}
	return func(b []byte) error {
		if uint64(len(b)) != rec.Len {
			return fmt.Errorf("%w at offset %d: inside record %d", ErrTruncated, rec.Offset+int64(len(b)), n)
		}
		if crc32.Update(start, castagnoli, b) != want {
			return fmt.Errorf("record %d (type %d at %#x) at offset %d: %w", n, rec.Type, rec.Arg, rec.Offset, ErrChecksum)
		}
		return nil
	}, nil
}
