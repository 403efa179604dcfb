package checkpoint

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/ptrace"
)

// TestCopyRunsReusesBuffers copies this process's own pages, more than
// the few buffers hold, twice in a row through /proc/PID/mem, then twice
// with process_vm_readv (the pages are this process's alone): each copy
// after the first runs on the buffers the one before gave back, and each
// must give every non-zero page, whole and where it was, and no zero page.
func TestCopyRunsReusesBuffers(t *testing.T) {
	const size = 3*chunk + 5*pageSize
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	for i := 0; i < size/pageSize; i++ {
		if i%7 != 3 { // every seventh page left zero
			m[i*pageSize] = byte(i) | 1
			m[i*pageSize+pageSize-1] = byte(i >> 8)
		}
	}
	// The mapping's address, without package unsafe.
	start, err := strconv.ParseUint(strings.TrimPrefix(fmt.Sprintf("%p", &m[0]), "0x"), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	var runs []span // none longer than chunk, as pageRuns makes them
	for a := start; a < start+size; a += chunk {
		runs = append(runs, span{a, min(a+chunk, start+size), false})
	}
	mem, err := ptrace.OpenMem(os.Getpid(), false)
	if err != nil {
		t.Skipf("/proc/self/mem: %v", err)
	}
	defer mem.Close()
	for round := 0; round < 4; round++ {
		for i := range runs {
			runs[i].own = round >= 2
		}
		var out bytes.Buffer
		w, err := image.NewWriter(&out, image.ArchX86_64)
		if err != nil {
			t.Fatal(err)
		}
		if err := copyRuns(os.Getpid(), mem, nil, runs, w); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, _, err := image.NewReader(&out)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, size)
		for {
			rec, err := r.Next()
			if err == io.EOF || err == nil && rec.Type == image.RecEnd {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.Type != image.RecPages {
				t.Fatalf("round %d: record %v", round, rec.Type)
			}
			off := rec.Arg - start
			if _, err := io.ReadFull(r, got[off:off+rec.Len]); err != nil {
				t.Fatal(err)
			}
			for p := off; p < off+rec.Len; p += pageSize {
				if bytes.Equal(got[p:p+pageSize], zeroPage) {
					t.Fatalf("round %d: zero page at %#x stored", round, p)
				}
			}
		}
		if !bytes.Equal(got, m) {
			t.Fatalf("round %d: the pages read back differ from memory", round)
		}
	}
}
