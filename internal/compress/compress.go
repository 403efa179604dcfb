// Package compress wraps an image stream in a compressor (zstd or lz4,
// both working on several cores: zstd as independent frames, frames.go) and recognises a compressed image by its
// frame magic when reading it, so that every reader of images takes
// compressed and plain ones alike.
package compress

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Kinds are the accepted --compress values.
var Kinds = []string{"none", "lz4", "zstd"}

var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	lz4Magic  = []byte{0x04, 0x22, 0x4d, 0x18}
)

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Writer compresses into w as kind says ("" or "none": not at all).
// Close flushes it (and does not close w).
func Writer(kind string, w io.Writer) (io.WriteCloser, error) {
	switch kind {
	case "", "none":
		return nopCloser{w}, nil
	case "zstd":
		return newFrames(w)
	case "lz4":
		z := lz4.NewWriter(w)
		if err := z.Apply(lz4.ConcurrencyOption(-1)); err != nil {
			return nil, err
		}
		return z, nil
	}
	return nil, fmt.Errorf("--compress=%s: not one of none, lz4, zstd", kind)
}

// Reader returns r, decompressed if it starts as a zstd or lz4 frame.
func Reader(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(4)
	if err != nil && len(head) < 4 {
		return br, nil // too short to be compressed: the image reader says what is wrong
	}
	switch {
	case bytes.Equal(head, zstdMagic):
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return d.IOReadCloser(), nil
	case bytes.Equal(head, lz4Magic):
		return lz4.NewReader(br), nil
	}
	return br, nil
}
