package image

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// skipAll reads the image in path, skipping every pages record's payload
// and checking it with SkipChecked against the file's bytes.
func skipAll(t *testing.T, path string) (pages int, err error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := NewReader(f)
	if err != nil {
		return 0, err
	}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return pages, nil
		}
		if err != nil {
			return pages, err
		}
		switch rec.Type {
		case RecProcess:
			if _, err := r.Process(); err != nil {
				return pages, err
			}
		case RecPages:
			check, err := r.SkipChecked()
			if err != nil {
				return pages, err
			}
			end := min(rec.Offset+int64(rec.Len), int64(len(data)))
			if err := check(data[rec.Offset:end]); err != nil {
				return pages, err
			}
			pages++
		default:
			if _, err := io.Copy(io.Discard, r); err != nil {
				return pages, err
			}
		}
	}
}

func TestSkip(t *testing.T) {
	b := sample(t)
	path := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := skipAll(t, path); err != nil || n != 2 {
		t.Fatalf("skipping: %d pages records, %v; want 2, nil", n, err)
	}
	// A flipped byte in a skipped payload is found by its check; the
	// records after it are still read.
	recs, _, err := readAll(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Type != RecPages {
			continue
		}
		bad := bytes.Clone(b)
		bad[rec.Offset+5] ^= 1
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := skipAll(t, path); !errors.Is(err, ErrChecksum) {
			t.Fatalf("flipped byte in pages at %#x: %v, want a checksum error", rec.Arg, err)
		}
	}
	// Cut inside a payload: the next header is missing.
	if err := os.WriteFile(path, b[:recs[1].Offset+10], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := skipAll(t, path); !errors.Is(err, ErrTruncated) {
		t.Fatalf("image cut inside a skipped payload: %v, want truncated", err)
	}
	// A stream cannot skip.
	r, _, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r.Next()
	if err := r.Skip(); err != nil {
		t.Fatalf("bytes.Reader seeks: %v", err)
	}
	r, _, _ = NewReader(io.MultiReader(bytes.NewReader(b)))
	r.Next()
	if err := r.Skip(); !errors.Is(err, ErrNotSeekable) {
		t.Fatalf("skip on a stream: %v, want ErrNotSeekable", err)
	}
}
