package restart

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// The errors a lead classifies: a vanished file is os.ErrNotExist, any
// change a *FileChangedError; a saved file is never looked at.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data")
	os.WriteFile(path, []byte("12345"), 0o644)
	p := &image.Process{Pid: 9, Files: []image.MappedFile{{ID: 1, Path: path, Size: 5}},
		VMAs: []image.VMA{{Kind: image.VMAFile, Path: path, File: 1, Shared: true}}}
	if err := checkFiles(p, savedFiles{}); err != nil {
		t.Fatalf("unchanged file: %v", err)
	}
	os.WriteFile(path, []byte("123456"), 0o644)
	var fc *FileChangedError
	err := checkFiles(p, savedFiles{})
	if !errors.As(err, &fc) || !errors.Is(err, ErrFileChanged) || fc.Pid != 9 || fc.Path != path || !strings.Contains(err.Error(), "--save-shared") {
		t.Fatalf("grown file: %v", err)
	}
	os.Remove(path)
	if err := checkFiles(p, savedFiles{}); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, unix.ENOENT) ||
		!errors.Is(err, ErrFileChanged) || !errors.As(err, &fc) {
		t.Fatalf("vanished file: %v", err)
	}
	p.Files[0].Saved = true
	if err := checkFiles(p, savedFiles{}); err == nil || !strings.Contains(err.Error(), "image damaged") {
		t.Fatalf("saved file whose record is missing: %v", err)
	}
	if err := checkFiles(p, savedFiles{1: os.Stdin}); err != nil {
		t.Fatalf("saved file: %v", err)
	}
}

func TestFeatureNames(t *testing.T) {
	if got := featureNames(1<<5 | 1<<6 | 1<<7 | 1<<17 | 1<<40); got != "AVX-512, AMX, xsave component 40" {
		t.Fatalf("%q", got)
	}
}
