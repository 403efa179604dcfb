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
// reading it, where the image is read from a file; its checksum is not
// checked. Record headers and padding that follow are read and checked as
// always. It fails with ErrNotSeekable unless NewReader was given an
// io.ReaderAt that is also an io.Seeker (an *os.File), positioned at the
// start of the image; from the first Skip on, the Reader reads it at
// offsets.
func (r *Reader) Skip() error {
	if r.closed || r.left == 0 {
		r.closed = true
		return nil
	}
	sk, ok := r.src.(*skipSource)
	if !ok {
		ra, isRA := r.src.(io.ReaderAt)
		s, isS := r.src.(io.Seeker)
		if !isRA || !isS {
			return ErrNotSeekable
		}
		pos, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return fmt.Errorf("image: skipping record %d: %w", r.n, err)
		}
		sk = &skipSource{ra: ra, off: pos}
		r.src = sk
	}
	if buf := uint64(r.r.Buffered()); r.left <= buf {
		r.r.Discard(int(r.left))
	} else {
		r.r.Discard(int(buf))
		sk.off += int64(r.left - buf)
		sk.small = true
		r.r.Reset(sk)
	}
	r.off += int64(r.left)
	r.left, r.closed = 0, true
	return nil
}

// skipSource is the file a Reader reads once it skips: read at offsets,
// so a skip costs no system call, and the first read after a skip takes
// one page, which holds the next record's header and padding, not a whole
// buffer that the next skip would throw away.
type skipSource struct {
	ra    io.ReaderAt
	off   int64
	small bool
}

func (s *skipSource) Read(p []byte) (int, error) {
	if s.small && len(p) > PageSize {
		p = p[:PageSize]
	}
	s.small = false
	n, err := s.ra.ReadAt(p, s.off)
	s.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

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
