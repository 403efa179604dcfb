package proc

import (
	"errors"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPagemapSelf(t *testing.T) {
	pg := os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 8*pg, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	touched := map[int]bool{0: true, 2: true, 5: true}
	for i := range touched {
		mem[i*pg] = 1
	}
	pm, err := OpenPagemap(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	start := addr(mem)
	buf := make([]uint64, 16)
	got, err := pm.Read(start, start+uint64(8*pg), buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 || &got[0] != &buf[0] {
		t.Errorf("Read returned %d entries, reused out: %v", len(got), &got[0] == &buf[0])
	}
	for i, e := range got {
		if present := e&PMPresent != 0; present != touched[i] || e&PMSwapped != 0 || e&PMFile != 0 {
			t.Errorf("page %d: entry %#x, want present=%v", i, e, touched[i])
		}
		if touched[i] && e&PMExclusive == 0 {
			t.Errorf("page %d: entry %#x not exclusive", i, e)
		}
	}
	if got, err := pm.Read(start, start, nil); err != nil || len(got) != 0 {
		t.Errorf("empty Read = %v, %v", got, err)
	}
	for _, r := range [][2]uint64{{start + 1, start + uint64(pg)}, {start, start + 1}, {start + uint64(pg), start}} {
		if _, err := pm.Read(r[0], r[1], nil); err == nil {
			t.Errorf("Read(%#x, %#x) succeeded", r[0], r[1])
		}
	}
	if _, err := pm.Read(0xffffffffff600000, 0xffffffffff601000, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Read([vsyscall]) error = %v, want ErrUnexpectedEOF", err)
	}
}

// TestPagemapChunks reads a reservation larger than one pread chunk with
// only its last page present.
func TestPagemapChunks(t *testing.T) {
	pg := os.Getpagesize()
	n := pmChunk + pmChunk/4
	mem, err := unix.Mmap(-1, 0, n*pg, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Skip(err)
	}
	defer unix.Munmap(mem)
	last := mem[(n-1)*pg:]
	if err := unix.Mprotect(last, unix.PROT_READ|unix.PROT_WRITE); err != nil {
		t.Fatal(err)
	}
	last[0] = 1
	pm, err := OpenPagemap(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	got, err := pm.Read(addr(mem), addr(mem)+uint64(n*pg), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if (e&PMPresent != 0) != (i == n-1) {
			t.Fatalf("page %d of %d: entry %#x", i, n, e)
		}
	}
}
