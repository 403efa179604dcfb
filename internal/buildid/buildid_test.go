package buildid

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The build-id read here is the one the linker wrote (as file(1) and
// readelf see it), and it changes with the code.
func TestBuildID(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	var ids []string
	for i, src := range []string{"int f(void){return 1;}", "int f(void){return 2;}"} {
		c := filepath.Join(dir, "f.c")
		so := filepath.Join(dir, "f"+string(rune('0'+i))+".so")
		os.WriteFile(c, []byte(src), 0o644)
		if out, err := exec.Command("gcc", "-shared", "-fPIC", "-Wl,--build-id=sha1", "-o", so, c).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v %s", err, out)
		}
		f, err := os.Open(so)
		if err != nil {
			t.Fatal(err)
		}
		id, err := Read(f)
		f.Close()
		if err != nil || len(id) != 40 {
			t.Fatalf("%s: build-id %q, %v", so, id, err)
		}
		if out, err := exec.Command("readelf", "-n", so).Output(); err == nil && !strings.Contains(string(out), id) {
			t.Fatalf("readelf -n says\n%s\nnot %s", out, id)
		}
		ids = append(ids, id)
	}
	if ids[0] == ids[1] {
		t.Fatal("two different libraries, one build-id")
	}
}

func TestNotELF(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("#!/bin/sh\n"), []byte("\x7fELF garbage that is not an ELF header")} {
		if id, err := Read(bytes.NewReader(b)); id != "" || err != nil {
			t.Errorf("%q: %q, %v", b, id, err)
		}
	}
}

func FuzzFind(f *testing.F) {
	f.Add([]byte("\x04\x00\x00\x00\x04\x00\x00\x00\x03\x00\x00\x00GNU\x00\x01\x02\x03\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		find(b, binary.LittleEndian)
		Read(bytes.NewReader(b))
	})
}
