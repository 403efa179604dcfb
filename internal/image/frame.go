package image

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

const (
	Magic = "STASISCR"
	// Version is the format written. 2 added what version 1 readers
	// would drop unnoticed: credentials with queued unix messages,
	// datagrams waiting on servers' sockets, files in flight named by
	// the fd that holds them.
	Version = 2
	// OldestVersion is the oldest format read: whatever a version 1
	// image lacks, it did not hold.
	OldestVersion = 1
	ArchX86_64    = 62
	PageSize      = 4096
	headerSize    = 64
	recHdrSize    = 32
)

type RecordType uint32

const (
	RecProcess  RecordType = 1
	RecPages    RecordType = 2
	RecFileData RecordType = 3
	// RecSavedFile is a mapped file's contents (--save-*), page-aligned;
	// Arg is its MappedFile ID (savedfile.go).
	RecSavedFile RecordType = 4
	RecEnd       RecordType = 0x454E44
)

var (
	ErrNotImage  = errors.New("not a stasis image")
	ErrVersion   = errors.New("unsupported image format version")
	ErrArch      = errors.New("image is for another architecture")
	ErrTruncated = errors.New("image truncated")
	ErrChecksum  = errors.New("checksum mismatch: image damaged or altered")
	ErrCorrupt   = errors.New("image damaged")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)
var le = binary.LittleEndian

type Header struct {
	Version, Arch, PageSize, Flags uint32
	Created                        int64
}

type Writer struct {
	w    *bufio.Writer
	dst  io.Writer // what w writes to: large payloads go to it directly
	off  int64
	prev uint32
}

// directWrite is the size from which whole pages written at a page
// boundary of the image (the payloads of pages records) bypass the buffer:
// copying megabytes of pages into it only to write them out again would
// cost as much as the write. Only whole pages, so that what reaches a pipe
// stays in whole pages (since the stream starts on a page boundary, so
// does every flush of the buffer): a pipe holds 16 pages, however few
// bytes each of them was given.
const directWrite = 64 << 10

func NewWriter(w io.Writer, arch uint32) (*Writer, error) { return newWriter(w, arch, 0) }

func newWriter(w io.Writer, arch, flags uint32) (*Writer, error) {
	h := make([]byte, headerSize)
	copy(h, Magic)
	le.PutUint32(h[8:], Version)
	le.PutUint32(h[12:], arch)
	le.PutUint32(h[16:], PageSize)
	le.PutUint32(h[20:], flags)
	le.PutUint64(h[24:], uint64(time.Now().UnixNano()))
	le.PutUint32(h[60:], crc32.Checksum(h[:60], castagnoli))
	wr := &Writer{w: bufio.NewWriterSize(w, 1<<20), dst: w, prev: le.Uint32(h[60:])}
	return wr, wr.write(h)
}

func (w *Writer) write(b []byte) error {
	if len(b) >= directWrite && len(b)%PageSize == 0 && w.off%PageSize == 0 {
		if err := w.w.Flush(); err != nil {
			return err
		}
		n, err := w.dst.Write(b)
		w.off += int64(n)
		if err == nil && n < len(b) {
			err = io.ErrShortWrite
		}
		return err
	}
	n, err := w.w.Write(b)
	w.off += int64(n)
	return err
}

func (w *Writer) Offset() int64 { return w.off }

func (w *Writer) record(t RecordType, arg uint64, align bool, size int64, body func(io.Writer) error) error {
	// The sum comes before the payload, so compute it over the payload first.
	return w.recordSum(t, arg, align, size, func(crc uint32) (uint32, error) {
		cw := &crcWriter{crc: crc}
		if err := body(cw); err != nil {
			return 0, err
		}
		if cw.n != size {
			return 0, fmt.Errorf("image: record of type %d: %d bytes, announced %d", t, cw.n, size)
		}
		return cw.crc, nil
	}, body)
}

// recordSum writes a record whose checksum sum computes from the checksum
// of what precedes the payload.
func (w *Writer) recordSum(t RecordType, arg uint64, align bool, size int64, sum func(uint32) (uint32, error), body func(io.Writer) error) error {
	pad := 0
	if align {
		pad = int((PageSize - (w.off+recHdrSize)%PageSize) % PageSize)
	}
	h := make([]byte, recHdrSize)
	le.PutUint32(h[0:], uint32(t))
	le.PutUint32(h[4:], uint32(pad))
	le.PutUint64(h[8:], uint64(size))
	le.PutUint64(h[16:], arg)
	crc := crc32.Update(0, castagnoli, le.AppendUint32(nil, w.prev))
	crc, err := sum(crc32.Update(crc, castagnoli, h[:24]))
	if err != nil {
		return err
	}
	le.PutUint32(h[24:], crc)
	w.prev = crc
	if err := w.write(h); err != nil {
		return err
	}
	if err := w.write(zeroPad[:pad]); err != nil {
		return err
	}
	return body(&offWriter{w})
}

var zeroPad [PageSize]byte

type crcWriter struct {
	crc uint32
	n   int64
}

func (c *crcWriter) Write(b []byte) (int, error) {
	c.crc = crc32.Update(c.crc, castagnoli, b)
	c.n += int64(len(b))
	return len(b), nil
}

type offWriter struct{ w *Writer }

func (o *offWriter) Write(b []byte) (int, error) { return len(b), o.w.write(b) }

func (w *Writer) Process(p *Process) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return w.record(RecProcess, 0, false, int64(len(b)), func(o io.Writer) error { _, err := o.Write(b); return err })
}

func (w *Writer) Pages(vaddr uint64, data []byte) error {
	if len(data)%PageSize != 0 {
		return fmt.Errorf("image: pages at %#x: %d bytes is not whole pages", vaddr, len(data))
	}
	return w.record(RecPages, vaddr, true, int64(len(data)), func(o io.Writer) error { _, err := o.Write(data); return err })
}

// FileData needs the data twice (checksum first); it is read into memory.
func (w *Writer) FileData(idx uint64, data io.Reader, size int64) error {
	if size > 1<<30 {
		return fmt.Errorf("image: file data %d: %d bytes: too large", idx, size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(data, b); err != nil {
		return err
	}
	return w.record(RecFileData, idx, false, size, func(o io.Writer) error { _, err := o.Write(b); return err })
}

func (w *Writer) Close() error {
	if err := w.record(RecEnd, 0, false, 0, func(io.Writer) error { return nil }); err != nil {
		return err
	}
	return w.w.Flush()
}

type Record struct {
	Type   RecordType
	Arg    uint64
	Len    uint64
	Offset int64
}

type Reader struct {
	r      *bufio.Reader
	src    io.Reader // what r reads from; Skip seeks it when it can
	off    int64
	prev   uint32
	cur    Record
	left   uint64
	crc    uint32
	n      int
	ended  bool
	closed bool
	chain  func() (io.Reader, error) // the images that follow (see Chain)
}

func NewReader(r io.Reader) (*Reader, Header, error) {
	h := make([]byte, headerSize)
	var hd Header
	if n, err := io.ReadFull(r, h); err != nil {
		if n < len(Magic) {
			return nil, hd, fmt.Errorf("%w (only %d bytes)", ErrNotImage, n)
		}
		return nil, hd, fmt.Errorf("%w: header cut short at %d bytes", ErrTruncated, n)
	}
	if string(h[:8]) != Magic {
		return nil, hd, fmt.Errorf("%w (magic %q)", ErrNotImage, h[:8])
	}
	if crc32.Checksum(h[:60], castagnoli) != le.Uint32(h[60:]) {
		return nil, hd, fmt.Errorf("header: %w", ErrChecksum)
	}
	hd = Header{Version: le.Uint32(h[8:]), Arch: le.Uint32(h[12:]), PageSize: le.Uint32(h[16:]), Flags: le.Uint32(h[20:]), Created: int64(le.Uint64(h[24:]))}
	if hd.Version < OldestVersion || hd.Version > Version {
		return nil, hd, fmt.Errorf("%w: image format version %d: this stasis reads versions %d to %d", ErrVersion, hd.Version, OldestVersion, Version)
	}
	if hd.Arch != ArchX86_64 {
		return nil, hd, fmt.Errorf("%w: image is for machine %d; this machine is x86_64 (%d)", ErrArch, hd.Arch, ArchX86_64)
	}
	if hd.PageSize != PageSize {
		return nil, hd, fmt.Errorf("%w: page size %d", ErrCorrupt, hd.PageSize)
	}
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), src: r, off: headerSize, prev: le.Uint32(h[60:])}, hd, nil
}

var recCaps = map[RecordType]uint64{RecProcess: 64 << 20, RecPages: 1 << 30, RecFileData: 16 << 30, RecSavedFile: maxSavedFile, RecEnd: 0}

func (r *Reader) Next() (Record, error) {
	if r.ended {
		return Record{}, io.EOF
	}
	for r.left > 0 || r.n > 0 && !r.closed {
		if _, err := r.Read(make([]byte, min(r.left+1, 64<<10))); err == io.EOF {
			break
		} else if err != nil {
			return Record{}, err
		}
	}
	h := make([]byte, recHdrSize)
	if n, err := io.ReadFull(r.r, h); err != nil {
		return Record{}, fmt.Errorf("%w at offset %d: no end record (%d bytes of a record header)", ErrTruncated, r.off, n)
	}
	rec := Record{Type: RecordType(le.Uint32(h)), Len: le.Uint64(h[8:]), Arg: le.Uint64(h[16:])}
	pad := le.Uint32(h[4:])
	limit, known := recCaps[rec.Type]
	if !known {
		return Record{}, fmt.Errorf("%w: record %d at offset %d: unknown type %#x", ErrCorrupt, r.n+1, r.off, uint32(rec.Type))
	}
	if rec.Len > limit || pad >= PageSize || le.Uint32(h[28:]) != 0 {
		return Record{}, fmt.Errorf("%w: record %d at offset %d: bad length or padding", ErrCorrupt, r.n+1, r.off)
	}
	r.off += recHdrSize
	if pad > 0 {
		p := make([]byte, pad)
		if _, err := io.ReadFull(r.r, p); err != nil {
			return Record{}, fmt.Errorf("%w at offset %d", ErrTruncated, r.off)
		}
		for _, c := range p {
			if c != 0 {
				return Record{}, fmt.Errorf("%w: record %d: padding not zero", ErrCorrupt, r.n+1)
			}
		}
		r.off += int64(pad)
	}
	if rec.Type == RecPages && (r.off%PageSize != 0 || rec.Len%PageSize != 0) {
		return Record{}, fmt.Errorf("%w: record %d: pages not page-aligned", ErrCorrupt, r.n+1)
	}
	if rec.Type == RecSavedFile {
		if err := checkSavedFile(rec, r.off); err != nil {
			return Record{}, fmt.Errorf("%w: record %d: %v", ErrCorrupt, r.n+1, err)
		}
	}
	rec.Offset = r.off
	r.crc = crc32.Update(0, castagnoli, le.AppendUint32(nil, r.prev))
	r.crc = crc32.Update(r.crc, castagnoli, h[:24])
	r.prev = le.Uint32(h[24:])
	r.cur, r.left, r.closed = rec, rec.Len, false
	r.n++
	if rec.Type == RecEnd {
		if err := r.verify(); err != nil {
			return Record{}, err
		}
		if more, err := r.follow(); err != nil {
			return Record{}, err
		} else if more {
			return r.Next()
		}
		r.ended = true
		return Record{}, io.EOF
	}
	return rec, nil
}

func (r *Reader) verify() error {
	r.closed = true
	if r.crc != r.prev {
		return fmt.Errorf("record %d (type %d at %#x) at offset %d: %w", r.n, r.cur.Type, r.cur.Arg, r.cur.Offset, ErrChecksum)
	}
	return nil
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, io.EOF
	}
	if r.left == 0 {
		if err := r.verify(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if uint64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.r.Read(p)
	r.crc = crc32.Update(r.crc, castagnoli, p[:n])
	r.left -= uint64(n)
	r.off += int64(n)
	if err == io.EOF {
		if r.left > 0 {
			return n, fmt.Errorf("%w at offset %d: inside record %d", ErrTruncated, r.off, r.n)
		}
		err = nil
	}
	return n, err
}

func (r *Reader) Process() (*Process, error) {
	if r.cur.Type != RecProcess {
		return nil, fmt.Errorf("record %d is not a process record", r.n)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var p Process
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: process record: %v", ErrCorrupt, err)
	}
	return &p, nil
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
