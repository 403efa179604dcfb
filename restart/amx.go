package restart

import (
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
	"stasis/internal/ptrace"
)

// AMX's tile data (xsave component 18) lives in a buffer the kernel gives
// a thread only when the thread first touches it, by faulting on an AMX
// instruction (XFD). Until then PTRACE_SETREGSET refuses an xsave area that
// holds tile data. So a thread whose saved area does runs one AMX
// instruction first, in the restorer's code page, and stops on the int3
// after it.

const xtileData = 18

// tileCode is LDTILECFG [RAX]; TILEZERO TMM0; TILERELEASE; INT3.
var tileCode = []byte{0xc4, 0xe2, 0x78, 0x49, 0x00, 0xc4, 0xe2, 0x7b, 0x49, 0xc0, 0xc4, 0xe2, 0x78, 0x49, 0xc0, 0xcc}

// tileCodeOff is where tileCode goes in the gate page, past the stub's
// code; tileCfgOff where its tile configuration goes (64 bytes, palette 1,
// tmm0 of 16 rows of 64 bytes).
const (
	tileCodeOff = 0x800
	tileCfgOff  = 0xc00
)

// needsTiles says whether an xsave area holds AMX tile data.
func needsTiles(xs []byte) bool {
	return len(xs) >= xstateBV+8 && le.Uint64(xs[xstateBV:])&(1<<xtileData) != 0
}

// enableTiles has thread t touch AMX state so that the kernel gives it
// room for its tile data. The process must have permission (xcompPerm).
//
// Precondition: called on the owner thread.
func (b *builder) enableTiles(t *rthread) error {
	cfg := make([]byte, 64)
	cfg[0], cfg[16], cfg[48] = 1, 64, 16
	if err := b.mem.WriteAt(tileCode, b.gate+tileCodeOff); err != nil {
		return err
	}
	if err := b.mem.WriteAt(cfg, b.gate+tileCfgOff); err != nil {
		return err
	}
	regs := t.r.Base
	regs.Rip, regs.Rax = b.gate+tileCodeOff, b.gate+tileCfgOff
	regs.Orig_rax = ^uint64(0)
	if err := kernel.SetRegs(t.tid, &regs); err != nil {
		return err
	}
	if err := unix.PtraceCont(t.tid, 0); err != nil {
		return fmt.Errorf("ptrace(PTRACE_CONT): %w", err)
	}
	s, err := ptrace.Wait(t.tid)
	if err != nil {
		return err
	}
	if !s.Status.Stopped() || s.Status.StopSignal() != unix.SIGTRAP {
		return fmt.Errorf("running TILEZERO: %v (was AMX permission refused?)", s)
	}
	return nil
}
