package writer

import (
	"os"
	"path/filepath"
	"testing"
)

// An aborted image leaves the previous one untouched and no temporary
// file behind; a committed one replaces it, readable by its owner only.
func TestAtomicReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "context.1")
	if err := os.WriteFile(path, []byte("old"), 0400); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, true)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half"))
	f.Abort()
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("after abort the image holds %q", b)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Fatalf("after abort the directory holds %d entries", len(es))
	}
	f, err = Create(path, true)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("new"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if b, _ := os.ReadFile(path); err != nil || string(b) != "new" || st.Mode().Perm() != 0400 {
		t.Fatalf("after commit: %q mode %v (%v)", b, st.Mode(), err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Fatalf("after commit the directory holds %d entries", len(es))
	}
}

func TestCreateInMissingDir(t *testing.T) {
	if _, err := Create(filepath.Join(t.TempDir(), "no", "such", "img"), false); err == nil {
		t.Fatal("created an image in a missing directory")
	}
}
