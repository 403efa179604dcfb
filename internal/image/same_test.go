package image

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// sameImage is two processes, the second sharing two pages of the first.
func sameImage(t testing.TB, s Same) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, ArchX86_64)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{42, 43} {
		p := &Process{Pid: pid, Threads: []Thread{{Tid: pid}}, VMAs: []VMA{{Start: 0x1000, End: 0x3000, Kind: VMAAnon}}}
		if err := w.Process(p); err != nil {
			t.Fatal(err)
		}
		if pid == 42 {
			if err := w.Pages(0x1000, bytes.Repeat([]byte{7}, 2*PageSize)); err != nil {
				t.Fatal(err)
			}
		} else if err := w.Same(0x1000, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSameRoundTrip(t *testing.T) {
	want := Same{Pid: 42, Addr: 0x1000, Len: 2 * PageSize}
	r, _, err := NewReader(bytes.NewReader(sameImage(t, want)))
	if err != nil {
		t.Fatal(err)
	}
	var got []Same
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type == RecSame {
			s, err := r.Same()
			if err != nil {
				t.Fatal(err)
			}
			if rec.Arg != 0x1000 {
				t.Errorf("same record at %#x, want 0x1000", rec.Arg)
			}
			got = append(got, s)
		} else if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("read %+v, want [%+v]", got, want)
	}
	var out strings.Builder
	if err := Describe(bytes.NewReader(sameImage(t, want)), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "deduplicated: 2 pages") {
		t.Fatalf("Describe does not count the deduplicated pages:\n%s", out.String())
	}
}

// TestSameDamaged: a same record whose fields cannot name whole pages of a
// process is refused as damaged, whatever its checksum says.
func TestSameDamaged(t *testing.T) {
	w := &Writer{}
	if err := w.Same(0x1000, Same{Pid: 42, Addr: 0x1001, Len: PageSize}); err == nil {
		t.Fatal("writer accepted a same record at an unaligned address")
	}
	for _, s := range []Same{{Pid: 0, Addr: 0x1000, Len: PageSize}, {Pid: 42, Addr: 0x1000, Len: 100},
		{Pid: 42, Addr: 1<<64 - 1<<12, Len: 1 << 13}} {
		b := sameImage(t, Same{Pid: 42, Addr: 0x1000, Len: PageSize})
		// Rewrite the payload and its checksum as a forger would.
		img := forgeSame(t, b, s)
		err := Describe(bytes.NewReader(img), io.Discard)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%+v: got %v, want ErrCorrupt", s, err)
		}
	}
	b := sameImage(t, Same{Pid: 42, Addr: 0x1000, Len: PageSize})
	b[len(b)-recHdrSize-4] ^= 1 // last byte of the same payload
	if err := Describe(bytes.NewReader(b), io.Discard); !errors.Is(err, ErrChecksum) {
		t.Fatalf("flipped byte: got %v, want ErrChecksum", err)
	}
}

// forgeSame rebuilds the image with s in place of its same record, by
// writing the record's fields unchecked.
func forgeSame(t *testing.T, b []byte, s Same) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, ArchX86_64)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r)
		if rec.Type == RecSame {
			body = make([]byte, sameSize)
			le.PutUint64(body[0:], uint64(s.Pid))
			le.PutUint64(body[8:], s.Addr)
			le.PutUint64(body[16:], s.Len)
		}
		err = w.record(rec.Type, rec.Arg, rec.Type == RecPages, int64(len(body)),
			func(o io.Writer) error { _, err := o.Write(body); return err })
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
