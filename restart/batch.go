package restart

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
	"stasis/internal/ptrace"
	"stasis/internal/trace"
)

// A batch of system calls runs in the process with one stop for all of
// them, instead of two stops each: a loop written into the restorer's
// gate page reads a table of calls from scratch memory, runs them in
// order, stores each result, and stops at the first failure it was not
// told to tolerate, or at the end (int3). A lazy restart maps hundreds of
// pages records this way, and every call whose result nobody needs at
// once waits in the builder's queue (later) for the next one that does.

// batchCode: rbx points at the table, 64 bytes an entry: nr in the low
// half of the first word (a zero word ends the table) and the errno to
// tolerate in its high half (0: none, all ones: any), six arguments, the
// result.
//
//	loop:	mov rax, [rbx]; test rax, rax; jz done
//		mov rdi, [rbx+8]; mov rsi, [rbx+16]; mov rdx, [rbx+24]
//		mov r10, [rbx+32]; mov r8, [rbx+40]; mov r9, [rbx+48]
//		mov eax, eax
//		syscall
//		mov [rbx+56], rax; cmp rax, -4095; jb next
//		mov ecx, [rbx+4]; test ecx, ecx; jz done
//		cmp ecx, -1; je next
//		mov edx, eax; neg edx; cmp ecx, edx; jne done
//	next:	add rbx, 64; jmp loop
//	done:	int3
var batchCode = []byte{
	0x48, 0x8b, 0x03, 0x48, 0x85, 0xc0, 0x74, 0x42,
	0x48, 0x8b, 0x7b, 0x08, 0x48, 0x8b, 0x73, 0x10, 0x48, 0x8b, 0x53, 0x18,
	0x4c, 0x8b, 0x53, 0x20, 0x4c, 0x8b, 0x43, 0x28, 0x4c, 0x8b, 0x4b, 0x30,
	0x89, 0xc0, 0x0f, 0x05,
	0x48, 0x89, 0x43, 0x38, 0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff, 0x72, 0x14,
	0x8b, 0x4b, 0x04, 0x85, 0xc9, 0x74, 0x13, 0x83, 0xf9, 0xff, 0x74, 0x08,
	0x89, 0xc2, 0xf7, 0xda, 0x39, 0xd1, 0x75, 0x06,
	0x48, 0x83, 0xc3, 0x40, 0xeb, 0xb6,
	0xcc,
}

const (
	batchCodeOff  = 64               // in the gate page, after the stub's code
	batchTableOff = 16 << 10         // in scratch memory, clear of what other calls use there
	batchMax      = (32 << 10) / 64  // entries of one batch
	batchEntry    = 64               // bytes an entry
	batchResult   = batchEntry/8 - 1 // the result's word in an entry
	notRun        = 1 << 63          // a result no system call returns
	laterDataOff  = 48 << 10         // in scratch memory: the queued calls' data, after the table
	laterDataMax  = gateSize - pageSize - laterDataOff
	anyErrno      = ^uint32(0) // tolerate any failure
)

// call is one system call of a batch.
type call struct {
	nr       uint64
	args     [6]uint64
	tolerate uint32 // an errno that does not stop the batch (0: none; anyErrno)
	result   uint64 // what it returned, once runBatch has run it
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
		le.PutUint64(e, c.nr|uint64(c.tolerate)<<32)
		for j, a := range c.args {
			le.PutUint64(e[8+8*j:], a)
		}
		le.PutUint64(e[8*batchResult:], notRun)
	}
	addr := b.scratch + batchTableOff
	if b.batchAt != b.gate {
		// Once per gate: a forked child's new gate is a fresh mapping.
		if err := b.mem.WriteAt(batchCode, b.gate+batchCodeOff); err != nil {
			return 0, err
		}
		b.batchAt = b.gate
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
		calls[i].result = res
		if v := int64(res); v < 0 && v >= -4095 {
			if c.tolerate == anyErrno || c.tolerate == uint32(-v) {
				continue
			}
			return i, &ptrace.Errno{Nr: c.nr, Errno: unix.Errno(-v)}
		}
		if res == notRun {
			return i, fmt.Errorf("pid %d: batch of system calls stopped before call %d", b.pid, i)
		}
	}
	return -1, nil
}

// queued is a call waiting in the builder's queue, with what its failure
// is to be called.
type queued struct {
	c    call
	what string
	res  *uint64 // where its result goes, if anyone needs it (laterResult)
}

// later queues a system call for the main thread whose result nobody needs
// at once: it runs, in order, with the others queued, at the next flush,
// which every immediate call (call, callIn) and every step of build and
// finish begins with. Its failure fails that flush, named by what.
func (b *builder) later(what string, nr uint64, args ...uint64) {
	b.laterOK(0, what, nr, args...)
}

// laterOK is later for a call whose failure with errno tolerate (anyErrno:
// any failure) is no failure.
func (b *builder) laterOK(tolerate uint32, what string, nr uint64, args ...uint64) {
	if len(b.queue) >= batchMax-1 {
		b.queueErr = errors.Join(b.queueErr, b.flush())
	}
	c := call{nr: nr, tolerate: tolerate}
	copy(c.args[:], args)
	b.queue = append(b.queue, queued{c, what, nil})
}

// laterResult is laterOK for a call whose result is wanted after the
// next flush, which stores it in *res (a tolerated failure as -errno).
func (b *builder) laterResult(res *uint64, tolerate uint32, what string, nr uint64, args ...uint64) {
	b.laterOK(tolerate, what, nr, args...)
	b.queue[len(b.queue)-1].res = res
}

// laterData returns the address in the process at which data will be when
// the calls queued next run; it flushes the queue first where there is no
// room left for it and one more call.
func (b *builder) laterData(data []byte) uint64 {
	n := (len(data) + 7) &^ 7
	if len(b.queueData)+n > laterDataMax || len(b.queue) >= batchMax-2 {
		b.queueErr = errors.Join(b.queueErr, b.flush())
	}
	if n > laterDataMax {
		b.queueErr = errors.Join(b.queueErr, fmt.Errorf("pid %d: %d bytes for a system call, at most %d", b.pid, n, laterDataMax))
		n = 0
	}
	addr := b.scratch + laterDataOff + uint64(len(b.queueData))
	b.queueData = append(b.queueData, make([]byte, n)...)
	copy(b.queueData[len(b.queueData)-n:], data)
	return addr
}

// laterIn is later in thread t: queued for the main thread, or for another
// run at once after what is queued (its failure returned).
//
// Precondition: called on the owner thread.
func (b *builder) laterIn(t *rthread, tolerate uint32, what string, nr uint64, args ...uint64) error {
	if t == b.threads[0] {
		b.laterOK(tolerate, what, nr, args...)
		return nil
	}
	_, err := b.callIn(t.tid, nr, args...)
	var errno *ptrace.Errno
	if err != nil && errors.As(err, &errno) && (tolerate == anyErrno || tolerate == uint32(errno.Errno)) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("pid %d tid %d: %s: %w", b.pid, t.tid, what, err)
	}
	return nil
}

// flush runs the queued calls, after writing their data.
//
// Precondition: called on the owner thread.
func (b *builder) flush() error {
	q, data, qerr := b.queue, b.queueData, b.queueErr
	b.queue, b.queueData, b.queueErr = b.queue[:0], b.queueData[:0], nil
	if qerr != nil {
		return qerr
	}
	if len(data) > 0 {
		if err := b.mem.WriteAt(data, b.scratch+laterDataOff); err != nil {
			return err
		}
	}
	if len(q) == 0 {
		return nil
	}
	calls := make([]call, len(q))
	for i := range q {
		calls[i] = q[i].c
	}
	i, err := b.runBatch(calls)
	if err != nil && i >= 0 {
		return fmt.Errorf("pid %d: %s: %w", b.pid, q[i].what, err)
	}
	if err == nil {
		for i := range q {
			if q[i].res != nil {
				*q[i].res = calls[i].result
			}
		}
	}
	return err
}
