package image

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func sample(t testing.TB) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, ArchX86_64)
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{Pid: 42, Comm: "(ugly )pr()cess(", Threads: []Thread{{Tid: 42, Regs: []byte{1, 2, 3}}},
		VMAs: []VMA{{Start: 0x1000, End: 0x3000, Kind: VMAAnon}}, Fds: []Fd{{Num: 1, Kind: FdStdio, Stdio: 1}}}
	if err := w.Process(p); err != nil {
		t.Fatal(err)
	}
	page := bytes.Repeat([]byte{7}, 2*PageSize)
	if err := w.Pages(0x1000, page); err != nil {
		t.Fatal(err)
	}
	if err := w.FileData(1, bytes.NewReader([]byte("hello")), 5); err != nil {
		t.Fatal(err)
	}
	if err := w.Pages(0x2000, page[:PageSize]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads every record of an image, payloads included.
func readAll(b []byte) ([]Record, *Process, error) {
	r, _, err := NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	var recs []Record
	var p *Process
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs, p, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if rec.Type == RecProcess {
			if p, err = r.Process(); err != nil {
				return nil, nil, err
			}
		} else if _, err := r.SavedFile(); rec.Type == RecSavedFile && err != nil {
			return nil, nil, err
		} else if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, nil, err
		}
		recs = append(recs, rec)
	}
}

func TestRoundTrip(t *testing.T) {
	b := sample(t)
	recs, p, err := readAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if p == nil || p.Pid != 42 || p.Comm != "(ugly )pr()cess(" || len(p.Threads) != 1 {
		t.Fatalf("process %+v", p)
	}
	types := []RecordType{RecProcess, RecPages, RecFileData, RecPages}
	if len(recs) != len(types) {
		t.Fatalf("%d records", len(recs))
	}
	for i, rec := range recs {
		if rec.Type != types[i] {
			t.Errorf("record %d: type %d", i, rec.Type)
		}
		if rec.Type == RecPages && rec.Offset%PageSize != 0 {
			t.Errorf("record %d: pages at file offset %d, not page-aligned", i, rec.Offset)
		}
	}
	// Encoding what was decoded gives the same bytes (but the header's time).
	var again bytes.Buffer
	w, _ := NewWriter(&again, ArchX86_64)
	w.Process(p)
	w.Pages(0x1000, bytes.Repeat([]byte{7}, 2*PageSize))
	w.FileData(1, bytes.NewReader([]byte("hello")), 5)
	w.Pages(0x2000, bytes.Repeat([]byte{7}, PageSize))
	w.Close()
	recs2, p2, err := readAll(again.Bytes())
	if err != nil || !reflect.DeepEqual(recs, recs2) || !reflect.DeepEqual(p, p2) || len(b) != again.Len() {
		t.Fatalf("re-encoding differs (%v)", err)
	}
	// Past the header (its time and crc), the bytes are the same but for
	// the record sums, which chain from the header's crc.
	if !bytes.Equal(b[8:24], again.Bytes()[8:24]) {
		t.Fatal("header fields differ")
	}
}

// Every flipped byte is caught: never a silent success, never a panic.
func TestCorruption(t *testing.T) {
	b := sample(t)
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		if _, _, err := readAll(c); err == nil {
			t.Fatalf("byte %d flipped: image accepted", i)
		}
	}
}

func TestTruncation(t *testing.T) {
	b := sample(t)
	for n := 0; n < len(b); n++ {
		if _, _, err := readAll(b[:n]); err == nil {
			t.Fatalf("cut at %d of %d bytes: image accepted", n, len(b))
		}
	}
}

func TestVersionArchSwap(t *testing.T) {
	b := sample(t)
	patch := func(off int, v uint32) []byte {
		c := append([]byte(nil), b...)
		le.PutUint32(c[off:], v)
		le.PutUint32(c[60:], crcOf(c[:60]))
		return c
	}
	for _, v := range []uint32{0, Version + 1, 99} {
		if _, _, err := readAll(patch(8, v)); !errors.Is(err, ErrVersion) {
			t.Errorf("version %d: %v", v, err)
		}
	}
	// (The records' checksums cover the header, so they fail now.)
	for v := uint32(OldestVersion); v <= Version; v++ {
		if _, _, err := readAll(patch(8, v)); errors.Is(err, ErrVersion) {
			t.Errorf("version %d, which it reads: %v", v, err)
		}
	}
	if _, _, err := readAll(patch(12, 183)); !errors.Is(err, ErrArch) {
		t.Errorf("arch 183: %v", err)
	}
	if _, _, err := readAll(append([]byte("NOTANIMG"), b[8:]...)); !errors.Is(err, ErrNotImage) {
		t.Errorf("bad magic: %v", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(sample(f))
	f.Add(sampleSaved(f))
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, p, err := readAll(b)
		if err == nil && (p == nil && len(recs) > 0) {
			t.Fatal("records without a process decoded")
		}
	})
}

// writeLog is a destination that keeps what it is given, and the writes.
type writeLog struct {
	bytes.Buffer
	writes [][]byte
}

func (l *writeLog) Write(b []byte) (int, error) {
	l.writes = append(l.writes, b)
	return l.Buffer.Write(b)
}

// TestWriterWholePages: a large pages payload reaches the destination as
// it was given, not copied through the buffer; a large payload that is not
// whole pages (file data) goes through the buffer; every write but the
// last is whole pages, so that a pipe fills (it holds 16 pages, however
// few bytes each was given); and the image reads back whole.
func TestWriterWholePages(t *testing.T) {
	var dst writeLog
	w, err := NewWriter(&dst, ArchX86_64)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Process(&Process{Pid: 7, Comm: "x"}); err != nil {
		t.Fatal(err)
	}
	odd := bytes.Repeat([]byte{3}, directWrite+123)
	if err := w.FileData(1, bytes.NewReader(odd), int64(len(odd))); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{9}, 2*directWrite)
	if err := w.Pages(0x10000, big); err != nil {
		t.Fatal(err)
	}
	if err := w.Pages(0x40000, big[:PageSize]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	direct := false
	for i, b := range dst.writes {
		if i < len(dst.writes)-1 && len(b)%PageSize != 0 {
			t.Fatalf("write %d of %d: %d bytes, not whole pages", i+1, len(dst.writes), len(b))
		}
		direct = direct || len(b) == len(big) && &b[0] == &big[0]
	}
	if !direct {
		t.Fatalf("the pages payload of %d bytes was copied, not written as given (writes %d)", len(big), len(dst.writes))
	}
	recs, _, err := readAll(dst.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[1].Type != RecFileData || recs[1].Len != uint64(len(odd)) || recs[2].Len != uint64(len(big)) {
		t.Fatalf("read back %+v, want process, file data, pages, pages", recs)
	}
}
