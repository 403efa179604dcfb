package ptrace

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
)

// A Rescue makes the remote system calls run in one live process safe to
// interrupt. A tracer killed while a thread runs a call for it leaves the
// thread with the call's registers and signal mask, and the kernel lets
// the thread go on from there: it would run whatever follows the syscall
// instruction it was given, with registers it never had. So calls run
// from code written into the unused tail of the process's vDSO, where the
// syscall instruction is followed by code that sets the thread's own
// signal mask back and loads its own flags, registers and instruction
// pointer: a thread let go at any moment of a call finishes the call and
// carries on as it was. A child made by the call (clone) exits at once
// instead of running a second copy of the program. Between calls the
// thread holds its own registers and mask, so a tracer that dies then
// leaves nothing to put back; or, between calls chained in one thread
// (Remote.Chain), it stays stopped at the last call's exit, where a
// tracer that dies lets it run on into the code that puts both back.
//
// The code restores the general registers, the arithmetic flags and the
// direction flag; the thread's FPU and vector registers are never touched
// by a system call, so they need nothing.
type Rescue struct {
	mem  *Mem
	at   uint64 // where the code goes: zero bytes past the vDSO's contents
	room int

	// what the code there holds now
	written bool
	regs    unix.PtraceRegs
	mask    uint64
}

// NewRescue finds room for the code in the vDSO mapped at [start, end) in
// the process whose memory mem is (opened for writing). It fails if the
// vDSO has no unused tail large enough, or one not all zero.
func NewRescue(mem *Mem, start, end uint64) (*Rescue, error) {
	b := make([]byte, end-start)
	if err := mem.ReadAt(b, start); err != nil {
		return nil, err
	}
	used, err := vdsoUsed(b)
	if err != nil {
		return nil, fmt.Errorf("vDSO at %#x: %w", start, err)
	}
	used = (used + 63) &^ 63
	room := len(b) - used
	if room < rescueSize {
		return nil, fmt.Errorf("vDSO at %#x: %d bytes free after its contents, %d needed", start, room, rescueSize)
	}
	tail := b[used:]
	if bytes.HasSuffix(tail[:rescueSize], rescueMark) {
		tail = tail[rescueSize:] // left by a checkpointer that was killed
	}
	if slices.ContainsFunc(tail, func(c byte) bool { return c != 0 }) {
		return nil, fmt.Errorf("vDSO at %#x: the bytes after its contents are not zero", start)
	}
	return &Rescue{mem: mem, at: start + uint64(used), room: room}, nil
}

// vdsoUsed returns how many bytes of the vDSO image its ELF headers,
// segments and sections take, counted from its start.
func vdsoUsed(b []byte) (int, error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	used := uint64(0)
	grow := func(v uint64) {
		used = max(used, v)
	}
	shoff := binary.LittleEndian.Uint64(b[0x28:])
	shnum := uint64(binary.LittleEndian.Uint16(b[0x3c:]))
	shentsize := uint64(binary.LittleEndian.Uint16(b[0x3a:]))
	phoff := binary.LittleEndian.Uint64(b[0x20:])
	phnum := uint64(binary.LittleEndian.Uint16(b[0x38:]))
	phentsize := uint64(binary.LittleEndian.Uint16(b[0x36:]))
	grow(shoff + shnum*shentsize)
	grow(phoff + phnum*phentsize)
	for _, p := range f.Progs {
		grow(p.Off + p.Filesz)
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS {
			grow(s.Offset + s.FileSize)
		}
	}
	if used > uint64(len(b)) {
		return 0, errors.New("its ELF contents reach past its mapping")
	}
	return int(used), nil
}

// Layout of the code, as offsets from Rescue.at.
const (
	rescueCall  = 0   // syscall, then on into the restore
	rescueClone = 224 // syscall; a child exits, the caller restores
	rescueRegs  = 256 // the registers the code loads, as PTRACE_GETREGS has them
	rescueMask  = rescueRegs + 27*8
	rescueSize  = rescueMask + 8 + 8 // and the mark
)

// rescueMark ends the code, so that code left by a checkpointer that was
// killed is known for ours and written over.
var rescueMark = []byte("stasis:r")

// entry returns where a call of nr starts, with code there that puts the
// thread back as base with signal mask mask.
func (c *Rescue) entry(nr uint64, base unix.PtraceRegs, mask uint64) (uint64, error) {
	if !c.written || c.regs != base || c.mask != mask {
		if err := c.mem.WriteAt(rescueCode(base, mask), c.at); err != nil {
			return 0, fmt.Errorf("rescue code: %w", err)
		}
		c.written, c.regs, c.mask = true, base, mask
	}
	switch nr {
	case unix.SYS_CLONE, unix.SYS_CLONE3, unix.SYS_FORK, unix.SYS_VFORK:
		return c.at + rescueClone, nil
	}
	return c.at + rescueCall, nil
}

// Erase puts zero bytes back where the code was. Call it once no thread
// runs a call from it.
func (c *Rescue) Erase() error {
	if !c.written {
		return nil
	}
	c.written = false
	return c.mem.WriteAt(make([]byte, rescueSize), c.at)
}

// rescueCode assembles the code for a thread to be put back as r with
// signal mask mask. It holds no absolute address of its own.
func rescueCode(r unix.PtraceRegs, mask uint64) []byte {
	var c []byte
	put := func(b ...byte) { c = append(c, b...) }
	imm32 := func(v uint32) { c = binary.LittleEndian.AppendUint32(c, v) }
	imm64 := func(v uint64) { c = binary.LittleEndian.AppendUint64(c, v) }

	put(0x0f, 0x05) // syscall: the call itself
	restore := len(c)
	// rt_sigprocmask(SIG_SETMASK, &mask, NULL, 8)
	put(0xb8)
	imm32(unix.SYS_RT_SIGPROCMASK)
	put(0xbf)
	imm32(unix.SIG_SETMASK)
	put(0x48, 0x8d, 0x35) // lea rsi, [rip+disp32]
	maskRef := len(c)
	imm32(0)
	put(0x31, 0xd2) // xor edx, edx
	put(0x41, 0xba) // mov r10d, imm32
	imm32(8)        //
	put(0x0f, 0x05) // syscall
	const of, df = 1 << 11, 1 << 10
	if r.Eflags&of != 0 {
		put(0xb0, 0x7f, 0x04, 0x01) // mov al, 0x7f; add al, 1: OF set
	} else {
		put(0x31, 0xc0) // xor eax, eax: OF clear
	}
	put(0xb4, byte(r.Eflags)) // mov ah, flags: SF ZF AF PF CF
	put(0x9e)                 // sahf
	if r.Eflags&df != 0 {
		put(0xfd) // std
	} else {
		put(0xfc) // cld
	}
	// movabs reg, imm64 for every register, rax last (sahf used ah).
	for _, g := range []struct {
		n byte
		v uint64
	}{
		{3, r.Rbx}, {1, r.Rcx}, {2, r.Rdx}, {6, r.Rsi}, {7, r.Rdi}, {5, r.Rbp}, {4, r.Rsp},
		{8, r.R8}, {9, r.R9}, {10, r.R10}, {11, r.R11}, {12, r.R12}, {13, r.R13}, {14, r.R14}, {15, r.R15},
		{0, r.Rax},
	} {
		rex := byte(0x48)
		if g.n >= 8 {
			rex |= 1
		}
		put(rex, 0xb8+g.n&7)
		imm64(g.v)
	}
	put(0xff, 0x25) // jmp [rip+0]
	imm32(0)
	imm64(r.Rip)
	binary.LittleEndian.PutUint32(c[maskRef:], uint32(len(c)-(maskRef+4)))
	imm64(mask)
	if len(c) > rescueClone {
		panic("rescue code overruns its clone entry")
	}
	c = append(c, make([]byte, rescueClone-len(c))...)

	put(0x0f, 0x05)       // syscall: the clone
	put(0x48, 0x85, 0xc0) // test rax, rax
	put(0x0f, 0x85)       // jnz restore: the caller
	imm32(uint32(int32(restore - (len(c) + 4))))
	put(0xb8) // mov eax, exit_group
	imm32(unix.SYS_EXIT_GROUP)
	put(0x31, 0xff) // xor edi, edi
	put(0x0f, 0x05) // syscall
	put(0xeb, 0xfe) // jmp .
	c = append(c, make([]byte, rescueRegs-len(c))...)
	c = append(c, kernel.RegsBytes(&r)...)
	imm64(mask)
	return append(c, rescueMark...)
}

// At returns where the code goes.
func (c *Rescue) At() uint64 { return c.at }

// Settle is for a stopped thread that a dead tracer let go in the rescue
// code at some point: given its registers, it gives the thread at once
// the registers and signal mask the code was to give it (whether or not
// the call had run: a fork not yet made is then never made) and updates
// regs and mask. It reports whether the thread was in the code. Whoever
// writes the code must first settle every thread, for one that runs it
// would run code written for another.
//
// Precondition: called on the owner thread.
func (c *Rescue) Settle(tid int, regs *unix.PtraceRegs, mask *uint64) (bool, error) {
	if regs.Rip < c.at || regs.Rip >= c.at+rescueSize {
		return false, nil
	}
	b := make([]byte, rescueSize)
	if err := c.mem.ReadAt(b, c.at); err != nil {
		return false, err
	}
	r, ok := kernel.RegsFromBytes(b[rescueRegs:rescueMask])
	if !ok || !bytes.HasSuffix(b, rescueMark) {
		return false, fmt.Errorf("tid %d: stopped at %#x in its vDSO's tail, which holds no rescue code", tid, regs.Rip)
	}
	m := binary.LittleEndian.Uint64(b[rescueMask:])
	if err := kernel.SetRegs(tid, &r); err != nil {
		return false, fmt.Errorf("tid %d: %w", tid, err)
	}
	if err := kernel.SetSigmask(tid, m); err != nil {
		return false, fmt.Errorf("tid %d: %w", tid, err)
	}
	*regs, *mask = r, m
	return true, nil
}

// SettleThread stops thread tid of process pid and settles it (see
// Settle) if it is in rescue code at address at, then lets it go.
//
// Precondition: called on the owner thread.
func SettleThread(pid, tid int, at uint64) error {
	if err := Freeze(tid); err != nil {
		return err
	}
	defer Detach(tid, 0)
	regs, err := kernel.GetRegs(tid)
	if err != nil {
		return err
	}
	mask, err := kernel.GetSigmask(tid)
	if err != nil {
		return err
	}
	mem, err := OpenMem(pid, false)
	if err != nil {
		return err
	}
	defer mem.Close()
	_, err = (&Rescue{mem: mem, at: at}).Settle(tid, &regs, &mask)
	return err
}
