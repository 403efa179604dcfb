package stub

import (
	"bytes"
	"debug/elf"
	"testing"
)

// The restorer must be an ELF the kernel loads: one PT_LOAD covering the
// code, entry at the syscall instruction.
func TestELF(t *testing.T) {
	f, err := elf.NewFile(bytes.NewReader(ELF()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC || f.Entry != Gate {
		t.Fatalf("machine %v type %v entry %#x", f.Machine, f.Type, f.Entry)
	}
	if len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD || f.Progs[0].Vaddr != LoadAddr {
		t.Fatalf("program headers %+v", f.Progs)
	}
	code := make([]byte, len(Code))
	if _, err := f.Progs[0].ReadAt(code, Gate-LoadAddr); err != nil || !bytes.Equal(code, Code) {
		t.Fatalf("code at entry: % x (%v)", code, err)
	}
}
