package elfcore

import (
	"bytes"
	"encoding/binary"

	"stasis/internal/image"
)

// Note types (linux/elf.h).
const (
	ntPrstatus  = 1
	ntFpregset  = 2
	ntPrpsinfo  = 3
	ntAuxv      = 6
	ntSiginfo   = 0x53494749
	ntFile      = 0x46494c45
	ntX86Xstate = 0x202
)

var le = binary.LittleEndian

// note appends one ELF note to b.
func note(b *bytes.Buffer, name string, typ uint32, desc []byte) {
	n := append([]byte(name), 0)
	var h [12]byte
	le.PutUint32(h[0:], uint32(len(n)))
	le.PutUint32(h[4:], uint32(len(desc)))
	le.PutUint32(h[8:], typ)
	b.Write(h[:])
	b.Write(n)
	pad4(b)
	b.Write(desc)
	pad4(b)
}

func pad4(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

// prstatus is struct elf_prstatus of x86-64 (336 bytes): the signal, the
// ids, and pr_reg, which is user_regs_struct as the image keeps it.
func prstatus(p *image.Process, t *image.Thread, sig int) []byte {
	d := make([]byte, 336)
	le.PutUint32(d[0:], uint32(sig)) // pr_info.si_signo
	le.PutUint16(d[12:], uint16(sig))
	le.PutUint64(d[24:], t.SigMask) // pr_sighold
	le.PutUint32(d[32:], uint32(t.Tid))
	le.PutUint32(d[36:], uint32(p.PPid))
	le.PutUint32(d[40:], uint32(p.Pgid))
	le.PutUint32(d[44:], uint32(p.Sid))
	copy(d[112:112+216], t.Regs)
	if len(t.Xstate) >= 512 {
		le.PutUint32(d[328:], 1) // pr_fpvalid
	}
	return d
}

// prpsinfo is struct elf_prpsinfo of x86-64 (136 bytes).
func prpsinfo(p *image.Process, args string) []byte {
	d := make([]byte, 136)
	d[0], d[1] = 1, 'S' // sleeping, as a frozen process
	if len(p.Creds.Uid) > 0 {
		le.PutUint32(d[16:], uint32(p.Creds.Uid[0]))
	}
	if len(p.Creds.Gid) > 0 {
		le.PutUint32(d[20:], uint32(p.Creds.Gid[0]))
	}
	le.PutUint32(d[24:], uint32(p.Pid))
	le.PutUint32(d[28:], uint32(p.PPid))
	le.PutUint32(d[32:], uint32(p.Pgid))
	le.PutUint32(d[36:], uint32(p.Sid))
	copy(d[40:55], p.Comm)
	copy(d[56:135], args)
	return d
}

// siginfo is a 128-byte siginfo_t naming sig.
func siginfo(sig int) []byte {
	d := make([]byte, 128)
	le.PutUint32(d[0:], uint32(sig))
	return d
}

// fileNote is NT_FILE: the file-backed mappings and their paths.
func fileNote(vmas []image.VMA) []byte {
	var files []image.VMA
	for _, v := range vmas {
		if v.Kind == image.VMAFile && v.Path != "" {
			files = append(files, v)
		}
	}
	var b bytes.Buffer
	var w [8]byte
	put := func(x uint64) { le.PutUint64(w[:], x); b.Write(w[:]) }
	put(uint64(len(files)))
	put(image.PageSize)
	for _, v := range files {
		put(v.Start)
		put(v.End)
		put(v.Offset / image.PageSize)
	}
	for _, v := range files {
		b.WriteString(v.Path)
		b.WriteByte(0)
	}
	return b.Bytes()
}
