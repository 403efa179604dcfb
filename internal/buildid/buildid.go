// Package buildid reads the ELF build-id of a file: the NT_GNU_BUILD_ID
// note that linkers write into executables and shared libraries, which
// tells two builds of a library apart even when their paths and sizes
// agree. Pure parsing of untrusted bytes; no policy.
package buildid

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"io"
)

const (
	ntGNUBuildID = 3
	maxNotes     = 1 << 16 // bytes of one PT_NOTE segment worth reading
)

// Read returns the build-id of the ELF file f in hex, or "" when f is not
// an ELF file or has no build-id note. An error means f could not be read.
func Read(f io.ReaderAt) (string, error) {
	var magic [4]byte
	if n, err := f.ReadAt(magic[:], 0); n < 4 {
		if err == io.EOF {
			err = nil
		}
		return "", err
	}
	if string(magic[:]) != elf.ELFMAG {
		return "", nil
	}
	e, err := elf.NewFile(f)
	if err != nil {
		return "", nil // ELF magic but no ELF we understand: no build-id
	}
	for _, p := range e.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz == 0 || p.Filesz > maxNotes {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil && err != io.EOF {
			return "", err
		}
		if id := find(b, e.ByteOrder); id != nil {
			return hex.EncodeToString(id), nil
		}
	}
	return "", nil
}

// find walks the notes in b and returns the GNU build-id's bytes.
func find(b []byte, bo interface{ Uint32([]byte) uint32 }) []byte {
	for len(b) >= 12 {
		namesz, descsz, typ := uint64(bo.Uint32(b)), uint64(bo.Uint32(b[4:])), bo.Uint32(b[8:])
		b = b[12:]
		nameEnd := (namesz + 3) &^ 3
		descEnd := nameEnd + (descsz+3)&^3
		if descEnd > uint64(len(b)) {
			return nil
		}
		name := bytes.TrimRight(b[:namesz], "\x00")
		if typ == ntGNUBuildID && string(name) == "GNU" && descsz > 0 {
			return b[nameEnd : nameEnd+descsz]
		}
		b = b[descEnd:]
	}
	return nil
}
