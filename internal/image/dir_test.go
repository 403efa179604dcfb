package image

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestIndex(t *testing.T) {
	x, err := ParseIndex(NewIndex([]int{10, 11}))
	if err != nil || len(x.Processes) != 2 || x.Processes[1] != (IndexProc{11, "context.11"}) {
		t.Fatalf("round trip: %+v %v", x, err)
	}
	for _, bad := range []string{
		`{"stasis":"checkpoint directory 1","processes":[{"pid":10,"file":"../context.10"}]}`,
		`{"stasis":"checkpoint directory 1","processes":[{"pid":10,"file":"context.10"},{"pid":10,"file":"context.10"}]}`,
		`{"stasis":"checkpoint directory 1","processes":[]}`,
		`{"stasis":"checkpoint directory 2","processes":[{"pid":10,"file":"context.10"}]}`,
		`not json`,
	} {
		if _, err := ParseIndex([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzParseIndex(f *testing.F) {
	f.Add(NewIndex([]int{1, 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if x, err := ParseIndex(b); (x == nil) == (err == nil) {
			t.Fatal("want a result or an error")
		}
	})
}

// part is a one-process image, marked as a part of a directory or not.
func part(t *testing.T, pid int, marked bool) []byte {
	var buf bytes.Buffer
	newW := NewWriter
	if marked {
		newW = NewPartWriter
	}
	w, err := newW(&buf, ArchX86_64)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Process(&Process{Pid: pid}); err != nil {
		t.Fatal(err)
	}
	if err := w.Pages(0x1000, bytes.Repeat([]byte{byte(pid)}, PageSize)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestChain: the parts of a directory read chained are one stream of
// records; an image not marked as a part is refused in a chain.
func TestChain(t *testing.T) {
	read := func(parts ...[]byte) ([]int, error) {
		r, h, err := NewReader(bytes.NewReader(parts[0]))
		if err != nil {
			return nil, err
		}
		if h.Flags&FlagPart == 0 {
			t.Fatal("a part's header lacks FlagPart")
		}
		i := 1
		r.Chain(func() (io.Reader, error) {
			if i == len(parts) {
				return nil, nil
			}
			i++
			return bytes.NewReader(parts[i-1]), nil
		})
		var pids []int
		for {
			rec, err := r.Next()
			if err == io.EOF {
				return pids, nil
			}
			if err != nil {
				return pids, err
			}
			if rec.Type == RecProcess {
				p, err := r.Process()
				if err != nil {
					return pids, err
				}
				pids = append(pids, p.Pid)
			} else if _, err := io.Copy(io.Discard, r); err != nil {
				return pids, err
			}
		}
	}
	pids, err := read(part(t, 1, true), part(t, 2, true), part(t, 3, true))
	if err != nil || len(pids) != 3 || pids[2] != 3 {
		t.Fatalf("chained parts: %v %v", pids, err)
	}
	if _, err := read(part(t, 1, true), part(t, 2, false)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("an unmarked image in a chain: %v, want ErrCorrupt", err)
	}
	damaged := part(t, 2, true)
	damaged[len(damaged)-100] ^= 1
	if _, err := read(part(t, 1, true), damaged); !errors.Is(err, ErrChecksum) {
		t.Fatalf("a damaged second part: %v, want ErrChecksum", err)
	}
}
