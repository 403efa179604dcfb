package compress

import (
	"bytes"
	"io"
	"math/rand"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	data := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(data[:1<<20]) // random, then zeros
	for _, kind := range Kinds {
		var buf bytes.Buffer
		w, err := Writer(kind, &buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if kind != "none" && buf.Len() >= len(data) {
			t.Errorf("%s: %d bytes from %d", kind, buf.Len(), len(data))
		}
		r, err := Reader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: round trip: %v, %d bytes", kind, err, len(got))
		}
	}
	if _, err := Writer("gzip", io.Discard); err == nil {
		t.Fatal("--compress=gzip accepted")
	}
}

// TestFrames: a zstd stream of many frames, written in pieces of odd
// sizes that straddle the frames, reads back whole, and a failing
// destination fails the writer.
func TestFrames(t *testing.T) {
	data := make([]byte, 4*frameSize+frameSize/2+7)
	rng := rand.New(rand.NewSource(2))
	for off := 0; off < len(data); off += 8192 {
		rng.Read(data[off:min(off+4096, len(data))]) // half random, half zeros
	}
	var buf bytes.Buffer
	w, err := Writer("zstd", &buf)
	if err != nil {
		t.Fatal(err)
	}
	for rest, step := data, 1; len(rest) > 0; step = step*7%1000003 + 1 {
		n := min(step, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if frames := bytes.Count(buf.Bytes(), zstdMagic); frames < 5 {
		t.Errorf("%d frame magics in the stream, want at least 5", frames)
	}
	r, err := Reader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("round trip: %v, %d bytes of %d", err, len(got), len(data))
	}

	w, err = Writer("zstd", failWriter{})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for i := 0; i < 8 && werr == nil; i++ {
		_, werr = w.Write(data[:frameSize])
	}
	if cerr := w.Close(); cerr == nil && werr == nil {
		t.Fatal("a destination that fails every write: no error from Write or Close")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }
