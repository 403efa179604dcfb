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
