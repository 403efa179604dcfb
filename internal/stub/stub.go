// Package stub builds the restorer: a static x86-64 ELF of a few hundred
// bytes whose only code is "syscall; ud2". cr_restart starts it under
// ptrace from a memfd and drives every system call that rebuilds a process
// through that one instruction, so no code of ours ever runs inside the
// restored process and nothing of the restorer remains in it afterwards.
package stub

import "encoding/binary"

// LoadAddr is where the restorer's single segment is loaded.
const LoadAddr = 0x10000

const (
	ehdrSize = 64
	phdrSize = 56
	codeOff  = ehdrSize + phdrSize
)

// Code is the restorer's text: syscall; ud2.
var Code = []byte{0x0f, 0x05, 0x0f, 0x0b}

// Gate is the address of the syscall instruction once the ELF is loaded.
const Gate = LoadAddr + codeOff

// ELF returns the restorer executable.
func ELF() []byte {
	size := codeOff + len(Code)
	b := make([]byte, size)
	le := binary.LittleEndian
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* version */})
	le.PutUint16(b[16:], 2)  // ET_EXEC
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], Gate)     // e_entry
	le.PutUint64(b[32:], ehdrSize) // e_phoff
	le.PutUint16(b[52:], ehdrSize)
	le.PutUint16(b[54:], phdrSize)
	le.PutUint16(b[56:], 1) // e_phnum
	p := b[ehdrSize:]
	le.PutUint32(p[0:], 1) // PT_LOAD
	le.PutUint32(p[4:], 5) // PF_R|PF_X
	le.PutUint64(p[8:], 0) // p_offset
	le.PutUint64(p[16:], LoadAddr)
	le.PutUint64(p[24:], LoadAddr)
	le.PutUint64(p[32:], uint64(size))
	le.PutUint64(p[40:], uint64(size))
	le.PutUint64(p[48:], 0x1000)
	copy(b[codeOff:], Code)
	return b
}
