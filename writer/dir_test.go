package writer

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func writeDir(t *testing.T, path string, opt Options, data string) error {
	t.Helper()
	d, err := CreateDir(path, "index", opt)
	if err != nil {
		return err
	}
	for _, name := range []string{"index", "context.1"} {
		f, err := d.Create(name)
		if err != nil {
			d.Abort()
			return err
		}
		io.WriteString(f, data)
	}
	return d.Commit()
}

func TestDir(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "ck")
	if err := writeDir(t, path, Options{Sync: true}, "one"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(path, "context.1"))
	if err != nil || st.Mode().Perm() != 0o400 {
		t.Fatalf("context.1: %v %v", st, err)
	}
	if err := writeDir(t, path, Options{Policy: NoClobber}, "two"); !errors.Is(err, ErrExists) {
		t.Fatalf("noclobber: %v", err)
	}
	if err := writeDir(t, path, Options{Policy: Backup}, "two"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(path+".~1~", "index")); string(b) != "one" {
		t.Fatalf("backup holds %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(path, "index")); string(b) != "two" {
		t.Fatalf("new directory holds %q", b)
	}
	// Aborted: nothing appears, the old one stays.
	d, err := CreateDir(path, "index", Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := d.Create("index")
	io.WriteString(f, "three")
	d.Abort()
	if b, _ := os.ReadFile(filepath.Join(path, "index")); string(b) != "two" {
		t.Fatalf("after Abort the directory holds %q", b)
	}
	if es, _ := os.ReadDir(base); len(es) != 2 {
		t.Fatalf("%d entries beside the directory, want ck and ck.~1~", len(es))
	}
	other := filepath.Join(base, "other")
	os.Mkdir(other, 0o700)
	os.WriteFile(filepath.Join(other, "x"), nil, 0o600)
	if err := writeDir(t, other, Options{}, "x"); err == nil {
		t.Fatal("replaced a directory that is not a checkpoint directory")
	}
	if _, err := d.Create("../x"); err == nil {
		t.Fatal("accepted a file name outside the directory")
	}
}

// TestDirBackupOverOther: --backup=NAME where NAME is a directory that is
// not a checkpoint directory fails before anything is replaced.
func TestDirBackupOverOther(t *testing.T) {
	base := t.TempDir()
	path, keep := filepath.Join(base, "ck"), filepath.Join(base, "keep")
	if err := writeDir(t, path, Options{}, "one"); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(keep, 0o700)
	os.WriteFile(filepath.Join(keep, "precious"), []byte("x"), 0o600)
	if err := writeDir(t, path, Options{Policy: Backup, BackupName: keep}, "two"); err == nil {
		t.Fatal("--backup onto a directory of other files succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(path, "index")); string(b) != "one" {
		t.Fatalf("the failed backup replaced the directory: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(keep, "precious")); string(b) != "x" {
		t.Fatal("the failed backup touched the other directory")
	}
	if es, _ := os.ReadDir(base); len(es) != 2 {
		t.Fatalf("%d entries, want ck and keep", len(es))
	}
}
