package main

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestImageFileKeepsCallersFd: judging an image given as -F N leaves N
// open, even once what judged it is closed and collected; cr_restart runs
// the restorer with the caller's descriptors 0-2, and -F 0 is one of them.
func TestImageFileKeepsCallersFd(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	n := int(r.Fd())
	f, path, keep, err := imageFile(&cli{Fd: &n})
	if err != nil {
		t.Fatal(err)
	}
	if path != "" || len(keep) != 1 || keep[0] != n {
		t.Errorf("imageFile(-F %d): path %q keep %v, want \"\" [%d]", n, path, keep, n)
	}
	f.Close()
	runtime.GC()
	runtime.GC()
	if _, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); err != nil {
		t.Fatalf("fd %d closed after judging it: %v", n, err)
	}
	bad := 1 << 20
	if _, _, _, err := imageFile(&cli{Fd: &bad}); err == nil {
		t.Errorf("imageFile(-F %d) took a descriptor that is not open", bad)
	}
}
