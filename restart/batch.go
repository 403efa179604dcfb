package restart

import (
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
	"stasis/internal/ptrace"
	"stasis/internal/trace"
)

// A batch of system calls runs in the process with one stop for all of
// them, instead of two stops each: a loop written into the restorer's
// gate page reads a table of calls from scratch memory, runs them in
// order, stores each result, and stops at the first failure or at the
// end (int3). A lazy restart maps hundreds of pages records this way.

// batchCode: rbx points at the table, 64 bytes an entry: nr (0 ends the
// table), six arguments, the result.
//
//	loop:	mov rax, [rbx]; test rax, rax; jz done
//		mov rdi, [rbx+8]; mov rsi, [rbx+16]; mov rdx, [rbx+24]
//		mov r10, [rbx+32]; mov r8, [rbx+40]; mov r9, [rbx+48]
//		syscall
//		mov [rbx+56], rax; cmp rax, -4095; jae done
//		add rbx, 64; jmp loop
//	done:	int3
var batchCode = []byte{
	0x48, 0x8b, 0x03, 0x48, 0x85, 0xc0, 0x74, 0x2c,
	0x48, 0x8b, 0x7b, 0x08, 0x48, 0x8b, 0x73, 0x10, 0x48, 0x8b, 0x53, 0x18,
	0x4c, 0x8b, 0x53, 0x20, 0x4c, 0x8b, 0x43, 0x28, 0x4c, 0x8b, 0x4b, 0x30,
	0x0f, 0x05,
	0x48, 0x89, 0x43, 0x38, 0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff, 0x73, 0x06,
	0x48, 0x83, 0xc3, 0x40, 0xeb, 0xcc,
	0xcc,
}

const (
	batchCodeOff  = 64               // in the gate page, after the stub's code
	batchTableOff = 16 << 10         // in scratch memory, clear of what other calls use there
	batchMax      = (32 << 10) / 64  // entries of one batch
	batchEntry    = 64               // bytes an entry
	batchResult   = batchEntry/8 - 1 // the result's word in an entry
	notRun        = 1 << 63          // a result no system call returns
)

// call is one system call of a batch.
type call struct {
	nr   uint64
	args [6]uint64
}

// runBatch runs calls (at most batchMax) in the main thread. It returns
// the index of the call that failed and its error, or -1 and nil.
//
// Precondition: called on the owner thread.
func (b *builder) runBatch(calls []call) (int, error) {
	if len(calls) == 0 {
		return -1, nil
	}
	if len(calls) > batchMax {
		return 0, fmt.Errorf("pid %d: batch of %d system calls, at most %d", b.pid, len(calls), batchMax)
	}
	trace.Count("batches", 1)
	trace.Count("system calls in batches", len(calls))
	table := make([]byte, (len(calls)+1)*batchEntry)
	for i, c := range calls {
		e := table[i*batchEntry:]
		le.PutUint64(e, c.nr)
		for j, a := range c.args {
			le.PutUint64(e[8+8*j:], a)
		}
		le.PutUint64(e[8*batchResult:], notRun)
	}
	addr := b.scratch + batchTableOff
	if err := b.mem.WriteAt(batchCode, b.gate+batchCodeOff); err != nil {
		return 0, err
	}
	if err := b.mem.WriteAt(table, addr); err != nil {
		return 0, err
	}
	t := b.threads[0]
	regs := t.r.Base
	regs.Rip, regs.Rbx = b.gate+batchCodeOff, addr
	regs.Orig_rax = ^uint64(0) // not in a syscall: no restart logic on resume
	if err := kernel.SetRegs(t.tid, &regs); err != nil {
		return 0, fmt.Errorf("tid %d: %w", t.tid, err)
	}
	if err := unix.PtraceCont(t.tid, 0); err != nil {
		return 0, fmt.Errorf("tid %d: ptrace(PTRACE_CONT): %w", t.tid, err)
	}
	s, err := ptrace.Wait(t.tid)
	if err != nil {
		return 0, fmt.Errorf("pid %d: batch of system calls: %w", b.pid, err)
	}
	if s.Signal() != unix.SIGTRAP {
		return 0, fmt.Errorf("pid %d: batch of system calls: unexpected %v", b.pid, s)
	}
	if err := b.mem.ReadAt(table, addr); err != nil {
		return 0, err
	}
	for i, c := range calls {
		res := le.Uint64(table[i*batchEntry+8*batchResult:])
		if v := int64(res); v < 0 && v >= -4095 {
			return i, &ptrace.Errno{Nr: c.nr, Errno: unix.Errno(-v)}
		}
		if res == notRun {
			return i, fmt.Errorf("pid %d: batch of system calls stopped before call %d", b.pid, i)
		}
	}
	return -1, nil
}
