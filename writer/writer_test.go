package writer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func write(t *testing.T, path, data string, opt Options) error {
	t.Helper()
	f, err := Create(path, opt)
	if err != nil {
		return err
	}
	f.Write([]byte(data))
	return f.Commit()
}

func content(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// An aborted image leaves the previous one untouched and nothing behind,
// even before Abort (an unnamed file: a writer killed midway leaves
// nothing); a committed one replaces it, readable by its owner only.
func TestAtomicReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "context.1")
	if err := os.WriteFile(path, []byte("old"), 0400); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, Options{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half"))
	if got := names(t, dir); !slices.Equal(got, []string{"context.1"}) {
		t.Fatalf("while an image is being written the directory holds %v", got)
	}
	f.Abort()
	if b := content(path); b != "old" {
		t.Fatalf("after abort the image holds %q", b)
	}
	if got := names(t, dir); len(got) != 1 {
		t.Fatalf("after abort the directory holds %v", got)
	}
	if err := write(t, path, "new", Options{Sync: true}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if b := content(path); err != nil || b != "new" || st.Mode().Perm() != 0400 {
		t.Fatalf("after commit: %q mode %v (%v)", b, st.Mode(), err)
	}
	if got := names(t, dir); len(got) != 1 {
		t.Fatalf("after commit the directory holds %v", got)
	}
}

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "img")
	for _, v := range []string{"1", "2", "3"} {
		if err := write(t, path, v, Options{Policy: Backup}); err != nil {
			t.Fatal(err)
		}
	}
	if content(path) != "3" || content(path+".~1~") != "1" || content(path+".~2~") != "2" {
		t.Fatalf("numbered backups: %v: %q %q %q", names(t, dir), content(path), content(path+".~1~"), content(path+".~2~"))
	}
	named := filepath.Join(dir, "previous")
	if err := write(t, path, "4", Options{Policy: Backup, BackupName: named}); err != nil {
		t.Fatal(err)
	}
	if content(path) != "4" || content(named) != "3" {
		t.Fatalf("named backup: %q %q", content(path), content(named))
	}
}

func TestClobber(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "img")
	os.WriteFile(path, []byte("old"), 0o400)
	// A process may still map the old image: it must keep its data.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := write(t, path, "new", Options{Policy: Clobber}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	old.ReadAt(b, 0)
	if content(path) != "new" || string(b) != "old" {
		t.Fatalf("clobber: image %q, the old file now reads %q (truncated in place?)", content(path), b)
	}
	f, err := Create(path, Options{Policy: Clobber})
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("part"))
	f.Abort()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an aborted clobber left %q", content(path))
	}
}

func TestNoClobber(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "img")
	if err := write(t, path, "first", Options{Policy: NoClobber}); err != nil {
		t.Fatal(err)
	}
	if err := write(t, path, "second", Options{Policy: NoClobber}); !errors.Is(err, ErrExists) {
		t.Fatalf("noclobber over an image: %v", err)
	}
	// The image appearing while the new one is written is caught too.
	other := filepath.Join(dir, "img2")
	f, err := Create(other, Options{Policy: NoClobber})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(other, []byte("raced"), 0o400)
	f.Write([]byte("late"))
	if err := f.Commit(); !errors.Is(err, ErrExists) || content(other) != "raced" {
		t.Fatalf("noclobber race: %v, %q", err, content(other))
	}
	if got := names(t, dir); len(got) != 2 {
		t.Fatalf("the directory holds %v", got)
	}
}

func TestCreateInMissingDir(t *testing.T) {
	if _, err := Create(filepath.Join(t.TempDir(), "no", "such", "img"), Options{}); err == nil {
		t.Fatal("created an image in a missing directory")
	}
}

// TestWriteBehind: an image of many times writeBehind, written with Sync
// in pieces of odd sizes (each a write-back started behind it), and one
// written without, hold exactly what was written once committed.
func TestWriteBehind(t *testing.T) {
	dir := t.TempDir()
	want := make([]byte, 3*writeBehind+12345)
	for i := range want {
		want[i] = byte(i*7 + i>>13)
	}
	for _, sync := range []bool{true, false} {
		path := filepath.Join(dir, "context."+strconv.FormatBool(sync))
		f, err := Create(path, Options{Sync: sync})
		if err != nil {
			t.Fatal(err)
		}
		for b := want; len(b) > 0; {
			n := min(len(b), 1<<20+4097)
			if _, err := f.Write(b[:n]); err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
		if sync && f.back.behind <= int64(len(want))-writeBehind {
			t.Fatalf("write-back started for %d bytes of %d", f.back.behind, len(want))
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("sync %v: read back %d bytes (%v), want the %d written", sync, len(got), err, len(want))
		}
	}
}
