package writer

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// specials makes, in dir, one of each thing that is not an image: a FIFO,
// a socket, a symbolic link to /dev/null and (as root) a device node like
// /dev/null. It returns their paths and a check that each is still what it
// was.
func specials(t *testing.T, dir string) ([]string, func(when string)) {
	t.Helper()
	var paths []string
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, fifo)
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	paths = append(paths, sock)
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, link)
	null := filepath.Join(dir, "null")
	if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err == nil {
		paths = append(paths, null)
	} else if os.Geteuid() == 0 {
		t.Fatalf("mknod as root: %v", err)
	}
	want := map[string]os.FileMode{}
	for _, p := range paths {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		want[p] = st.Mode().Type()
	}
	return paths, func(when string) {
		t.Helper()
		for p, m := range want {
			st, err := os.Lstat(p)
			if err != nil || st.Mode().Type() != m {
				t.Fatalf("%s: %s was %v, now %v (%v)", when, p, m, st.Mode().Type(), err)
			}
		}
	}
}

// Nothing but a regular file is replaced or removed, under any policy,
// whether it is there when the image is started or appears while it is
// being written.
func TestOnlyRegularReplaced(t *testing.T) {
	dir := t.TempDir()
	paths, same := specials(t, dir)
	for _, pol := range []Policy{Atomic, Backup, Clobber} {
		for _, p := range paths {
			if err := write(t, p, "img", Options{Policy: pol}); !errors.Is(err, ErrNotRegular) {
				t.Fatalf("policy %d over %s: %v", pol, p, err)
			}
			same("after a refused image")
		}
	}
	for _, pol := range []Policy{Atomic, Backup, Clobber} {
		for i, p := range paths {
			// Started over a regular file, which is then swapped for p.
			img := filepath.Join(dir, "img")
			os.WriteFile(img, []byte("old"), 0o400)
			f, err := Create(img, Options{Policy: pol})
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("new"))
			if err := os.Rename(p, img); err != nil {
				t.Fatal(err)
			}
			err = f.Commit()
			st, lerr := os.Lstat(img)
			if lerr != nil || st.Mode().IsRegular() || !errors.Is(err, ErrNotRegular) && pol != Clobber {
				t.Fatalf("policy %d, %s swapped in while the image was written: commit %v, now %v (%v)", pol, p, err, st.Mode(), lerr)
			}
			os.Rename(img, p)
			same("after a swap " + paths[i])
		}
	}
	// A backup name that is not a regular file is refused.
	img := filepath.Join(dir, "img2")
	if err := write(t, img, "1", Options{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if err := write(t, img, "2", Options{Policy: Backup, BackupName: p}); !errors.Is(err, ErrNotRegular) {
			t.Fatalf("backup to %s: %v", p, err)
		}
		same("after a refused backup")
	}
	if content(img) != "1" {
		t.Fatalf("the image after refused backups: %q", content(img))
	}
}
