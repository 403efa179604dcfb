package checkpoint

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/proc"
)

// mapPrivate maps the second page of a two-page file holding head at its
// start, privately, as a lazy restart maps an image; it returns the
// mapping as /proc shows it.
func mapPrivate(t *testing.T, path string, head []byte) proc.Mapping {
	t.Helper()
	data := make([]byte, 2*pageSize)
	copy(data, head)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := unix.Mmap(int(f.Fd()), pageSize, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	maps, err := proc.ReadMaps(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range maps {
		if m.Path == path {
			return m
		}
	}
	t.Fatalf("no mapping of %s", path)
	return proc.Mapping{}
}

func TestImageMappings(t *testing.T) {
	dir := t.TempDir()
	img := mapPrivate(t, filepath.Join(dir, "img"), []byte(image.Magic))
	other := mapPrivate(t, filepath.Join(dir, "other"), []byte("\x7fELF"))
	c := imageFiles{}
	for _, tc := range []struct {
		m    proc.Mapping
		want bool
	}{{img, true}, {other, false}} {
		if got, err := c.maps(os.Getpid(), tc.m); err != nil || got != tc.want {
			t.Errorf("%s: image %v, %v; want %v", tc.m.Path, got, err, tc.want)
		}
	}
	// Removed: through /proc/PID/map_files (we are root in the tests; an
	// ordinary user gets an error that says what it needs).
	if err := os.Remove(filepath.Join(dir, "img")); err != nil {
		t.Fatal(err)
	}
	img.Deleted = true
	got, err := imageFiles{}.maps(os.Getpid(), img)
	if os.Geteuid() != 0 {
		if err == nil {
			t.Fatalf("removed image, not root: no error")
		}
		t.Logf("not root: %v", err)
		return
	}
	if err != nil || !got {
		t.Fatalf("removed image: image %v, %v; want true", got, err)
	}
}
