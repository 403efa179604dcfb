package restart

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// TestHowChangedSum: a file whose device, inode, size and times are as
// recorded, but whose contents are not those summed at checkpoint (a write
// in the same clock tick), is changed; with the right sum it is not.
func TestHowChangedSum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(path, []byte("row 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	f := image.Fd{Path: path, Size: st.Size, State: &image.FileState{Dev: st.Dev, Ino: st.Ino,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Sum: fmt.Sprintf("%x", sha256.Sum256([]byte("row 1\n")))}}
	if how := howChanged(f, &st); how == "" {
		t.Fatal("contents that differ from the sum are not seen as a change")
	}
	f.State.Sum = fmt.Sprintf("%x", sha256.Sum256([]byte("row 2\n")))
	if how := howChanged(f, &st); how != "" {
		t.Fatalf("an unchanged file is seen as changed: %s", how)
	}
}
