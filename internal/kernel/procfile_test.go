package kernel

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	// /proc/self/maps of a Go test is longer than the first buffer.
	for _, p := range []string{"/proc/self/stat", "/proc/self/maps", "/proc/self/auxv"} {
		got, err := ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if p == "/proc/self/stat" {
			// times and counters move between the two reads
			got, want = got[:bytes.IndexByte(got, ')')], want[:bytes.IndexByte(want, ')')]
		}
		if p != "/proc/self/maps" && !bytes.Equal(got, want) {
			t.Errorf("%s: read %q, os.ReadFile %q", p, got, want)
		}
		if len(got) == 0 {
			t.Errorf("%s: read nothing", p)
		}
	}
	big := strings.Repeat("0123456789abcdef", 4096) // 64 KiB: the buffer grows
	f := t.TempDir() + "/big"
	if err := os.WriteFile(f, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(f); err != nil || string(got) != big {
		t.Errorf("%s: read %d bytes, %v; want %d", f, len(got), err, len(big))
	}
	_, err := ReadFile("/proc/self/no such file")
	var pe *os.PathError
	if !errors.Is(err, os.ErrNotExist) || !errors.As(err, &pe) {
		t.Errorf("missing file: %v, want an *os.PathError of ENOENT", err)
	}
}

func TestDirNames(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 600 { // more than one getdents64 buffer
		name := strings.Repeat("n", 20) + strconv.Itoa(i)
		if err := os.WriteFile(dir+"/"+name, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	got, err := DirNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("DirNames gave %d names, want %d", len(got), len(want))
	}
	if _, err := DirNames(dir + "/no such dir"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v, want ENOENT", err)
	}
}
