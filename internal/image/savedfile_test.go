package image

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// sampleSaved is an image whose process maps a saved file: the file's
// record comes first.
func sampleSaved(t testing.TB) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, ArchX86_64)
	if err != nil {
		t.Fatal(err)
	}
	contents := []byte(strings.Repeat("\x7fELF library ", 500))
	m := MappedFile{ID: 3, Path: "/lib/x.so", Size: int64(len(contents)), BuildID: "abcd"}
	if err := w.SavedFile(m, bytes.NewReader(contents)); err != nil {
		t.Fatal(err)
	}
	p := &Process{Pid: 7, Threads: []Thread{{Tid: 7}}, ExeFile: 3,
		Files: []MappedFile{{ID: 3, Path: "/lib/x.so", Size: int64(len(contents)), BuildID: "abcd", Saved: true}},
		VMAs:  []VMA{{Start: 0x1000, End: 0x3000, Kind: VMAFile, Path: "/lib/x.so", File: 3}}}
	if err := w.Process(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSavedFileRoundTrip(t *testing.T) {
	b := sampleSaved(t)
	r, _, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil || rec.Type != RecSavedFile || rec.Arg != 3 || rec.Offset%PageSize != 0 {
		t.Fatalf("first record %+v, %v", rec, err)
	}
	m, err := r.SavedFile()
	if err != nil || m.Path != "/lib/x.so" || m.BuildID != "abcd" || m.ID != 3 {
		t.Fatalf("saved file header %+v, %v", m, err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.HasPrefix(got, []byte("\x7fELF library ")) || len(got) != 13*500 {
		t.Fatalf("saved contents: %d bytes, %v", len(got), err)
	}
	if rec, err = r.Next(); err != nil || rec.Type != RecProcess {
		t.Fatalf("second record %+v, %v", rec, err)
	}
	p, err := r.Process()
	if err != nil || p.ExeFile != 3 || len(p.Files) != 1 || !p.Files[0].Saved || p.VMAs[0].File != 3 {
		t.Fatalf("process %+v, %v", p, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	for i := range b { // every flipped byte is caught
		c := append([]byte(nil), b...)
		c[i] ^= 0x20
		if _, _, err := readAll(c); err == nil {
			t.Fatalf("byte %d flipped: image accepted", i)
		}
	}
}

// A damaged saved-file header says what is wrong before any checksum.
func TestSavedFileDamaged(t *testing.T) {
	b := sampleSaved(t)
	hdr := headerSize // the first record's header
	c := append([]byte(nil), b...)
	le.PutUint64(c[hdr+16:], 0)
	if _, _, err := readAll(c); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "saved file with id 0") {
		t.Errorf("id 0: %v", err)
	}
	c = append([]byte(nil), b...)
	le.PutUint32(c[hdr+4:], 8) // padding that leaves the contents unaligned
	if _, _, err := readAll(c); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not page-aligned") {
		t.Errorf("unaligned: %v", err)
	}
	c = append([]byte(nil), b...)
	le.PutUint64(c[hdr+8:], 1<<40)
	if _, _, err := readAll(c); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge: %v", err)
	}
	c = append([]byte(nil), b...)
	le.PutUint64(c[hdr+8:], 100)
	if _, _, err := readAll(c); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "shorter than its header") {
		t.Errorf("short: %v", err)
	}
	// A header that disagrees with its record, its checksum made good:
	// caught by what it says, not only by the sum.
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, ArchX86_64)
	w.record(RecSavedFile, 2, true, SavedHeader+5, func(o io.Writer) error {
		h := make([]byte, SavedHeader+5)
		js := []byte(`{"id":2,"path":"/x","size":6,"saved":true}`)
		le.PutUint32(h, uint32(len(js)))
		copy(h[4:], js)
		_, err := o.Write(h)
		return err
	})
	w.Close()
	if _, _, err := readAll(buf.Bytes()); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "header says") {
		t.Errorf("inconsistent header: %v", err)
	}
}

// changing is a file that grows a byte between the two passes.
type changing struct{ reads int }

func (c *changing) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 {
		c.reads++
	}
	for i := range p {
		p[i] = byte(c.reads)
	}
	if off+int64(len(p)) >= 100 {
		return int(100 - off), io.EOF
	}
	return len(p), nil
}

func TestSavedFileChanged(t *testing.T) {
	w, _ := NewWriter(io.Discard, ArchX86_64)
	if err := w.SavedFile(MappedFile{ID: 1, Path: "/x", Size: 100}, &changing{}); !errors.Is(err, ErrFileChanged) {
		t.Fatalf("a file that changed between passes: %v", err)
	}
	w, _ = NewWriter(io.Discard, ArchX86_64)
	if err := w.SavedFile(MappedFile{ID: 1, Path: "/x", Size: 20}, bytes.NewReader(make([]byte, 10))); !errors.Is(err, ErrFileChanged) {
		t.Fatalf("a file that shrank: %v", err)
	}
}
