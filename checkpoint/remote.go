package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
	"stasis/internal/proc"
	"stasis/internal/ptrace"
)

// asker runs system calls inside the frozen process to read what /proc
// does not show. It borrows a syscall instruction of the vDSO and writes
// the rescue code (see ptrace.Rescue) into the vDSO's unused tail, so that
// a thread let go in the middle of a call, because we were killed, puts
// itself back as it was. The calls' answers go below the main thread's
// stack (see mapScratch), or into a scratch page it maps and unmaps. On a
// kernel whose vDSO has no room for the rescue code, the calls run
// unprotected from the borrowed instruction.
type asker struct {
	pid     int
	gate    uint64
	maps    []proc.Mapping
	scratch uint64
	mapped  bool // scratch is a page of ours, to unmap
	mem     *ptrace.Mem
	leader  *task
	rescue  *ptrace.Rescue
	wmem    *ptrace.Mem // the rescue's: open for writing
	guard   *guard      // told of a snapshot as soon as it exists
	// chain runs the calls of the thread that ran the last one, which it
	// leaves in the rescue code until a call in another thread, or close,
	// ends the chain (see ptrace.Remote.Chain).
	chain *ptrace.Remote
}

// newAsker returns an asker for process pid, whose mappings are maps and
// memory mem, with leader one of its frozen threads. tasks must be every
// thread of the process that might be in rescue code left by a
// checkpointer that was killed: they are settled (see ptrace.Settle)
// before the code is written anew.
//
// Precondition: called on the owner thread.
func newAsker(pid int, maps []proc.Mapping, mem *ptrace.Mem, leader *task, tasks []*task) (*asker, error) {
	a := &asker{pid: pid, maps: maps, mem: mem, leader: leader}
	var err error
	if a.gate, err = findGate(pid, maps, mem); err != nil {
		return nil, err
	}
	for _, m := range maps {
		if m.Path != "[vdso]" {
			continue
		}
		if a.wmem, err = ptrace.OpenMem(pid, true); err != nil {
			return nil, err
		}
		if a.rescue, err = ptrace.NewRescue(a.wmem, m.Start, m.End); err != nil {
			a.wmem.Close()
			a.wmem, a.rescue = nil, nil
		}
		break
	}
	if a.rescue == nil {
		return a, nil
	}
	for _, t := range tasks {
		if _, err := a.rescue.Settle(t.tid, &t.regs, &t.sigmask); err != nil {
			a.close()
			return nil, fmt.Errorf("pid %d: %w", pid, err)
		}
	}
	return a, nil
}

// close unmaps the scratch page and erases the rescue code.
//
// Precondition: called on the owner thread, with no call running.
func (a *asker) close() error {
	err := a.unmapScratch()
	if cerr := a.endChain(); err == nil {
		err = cerr
	}
	if a.rescue != nil {
		if eerr := a.rescue.Erase(); err == nil {
			err = eerr
		}
		a.wmem.Close()
		a.rescue, a.wmem = nil, nil
	}
	return err
}

// findGate returns the address of a syscall instruction in the vDSO.
func findGate(pid int, maps []proc.Mapping, mem *ptrace.Mem) (uint64, error) {
	for _, m := range maps {
		if m.Path != "[vdso]" {
			continue
		}
		b := make([]byte, m.End-m.Start)
		if err := mem.ReadAt(b, m.Start); err != nil {
			return 0, err
		}
		if i := bytes.Index(b, []byte{0x0f, 0x05}); i >= 0 {
			return m.Start + uint64(i), nil
		}
	}
	return 0, fmt.Errorf("pid %d: no syscall instruction found in its vDSO", pid)
}

// remote returns what runs calls in t.
func (a *asker) remote(t *task) *ptrace.Remote {
	if a.rescue != nil {
		return &ptrace.Remote{Tid: t.tid, Base: ptrace.ResumeRegs(t.regs), Rescue: a.rescue, Mask: t.sigmask}
	}
	return &ptrace.Remote{Tid: t.tid, Gate: a.gate, Base: t.regs}
}

// chained returns what runs t's calls chained (see asker.chain), ending
// the chain of another thread first.
//
// Precondition: called on the owner thread.
func (a *asker) chained(t *task) (*ptrace.Remote, error) {
	if a.chain != nil && a.chain.Tid == t.tid {
		return a.chain, nil
	}
	if err := a.endChain(); err != nil {
		return nil, err
	}
	a.chain = a.remote(t)
	a.chain.Chain = true
	return a.chain, nil
}

// endChain gives the thread of the chain, if any, its own mask and
// registers back.
//
// Precondition: called on the owner thread.
func (a *asker) endChain() error {
	if a.chain == nil {
		return nil
	}
	r := a.chain
	a.chain = nil
	if err := r.End(); err != nil {
		return fmt.Errorf("pid %d: %w", a.pid, err)
	}
	return nil
}

// call runs one system call in t.
//
// Precondition: called on the owner thread.
func (a *asker) call(t *task, nr uint64, args ...uint64) (uint64, error) {
	if !t.touched {
		t.touched = true
		if a.rescue == nil {
			// Signals must not be delivered while we borrow the thread.
			if err := kernel.SetSigmask(t.tid, ^uint64(0)); err != nil {
				return 0, fmt.Errorf("tid %d: %w", t.tid, err)
			}
		}
	}
	r := a.remote(t)
	if a.rescue != nil {
		var err error
		if r, err = a.chained(t); err != nil {
			return 0, err
		}
	}
	v, err := r.Syscall(nr, args...)
	if err != nil {
		return 0, fmt.Errorf("pid %d tid %d: %w", a.pid, t.tid, err)
	}
	return v, nil
}

// callRead runs a call that fills n bytes at the scratch page and returns them.
func (a *asker) callRead(t *task, n int, nr uint64, args ...uint64) ([]byte, error) {
	if _, err := a.call(t, nr, args...); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	return b, a.mem.ReadAt(b, a.scratch)
}

// Room for the calls' answers below the main thread's stack pointer on
// the process's main stack: past the 128-byte red zone, which the System
// V ABI keeps for the code that runs, in the stack's unused part, where
// a signal handler's frame or a debugger's call would go, which the
// program can therefore hold nothing in. The largest answer is 32 bytes.
const (
	redZone      = 128
	scratchBytes = 64
)

// mapScratch chooses where the calls' answers go: below the main thread's
// red zone if its stack pointer is in the process's main stack ([stack])
// and that room is inside the stack's mapping (no call, no stack growth,
// and nothing to undo if we are killed), else in a page the process maps
// for us: not below a stack pointer elsewhere, for a stack of the
// program's own (a Go goroutine's, in the heap) may end just below it,
// and signals that run on an alternate stack would never have taught the
// program to keep clear of it.
//
// Precondition: called on the owner thread.
func (a *asker) mapScratch() error {
	sp := a.leader.regs.Rsp
	if at := (sp - redZone - scratchBytes) &^ 15; at < sp {
		for _, m := range a.maps {
			if m.Path == "[stack]" && m.Start <= at && sp <= m.End && m.Write && !m.Shared {
				a.scratch = at
				return nil
			}
		}
	}
	v, err := a.call(a.leader, unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	a.scratch, a.mapped = v, err == nil
	return err
}

func (a *asker) unmapScratch() error {
	if !a.mapped {
		a.scratch = 0
		return nil
	}
	_, err := a.call(a.leader, unix.SYS_MUNMAP, a.scratch, 4096)
	a.scratch, a.mapped = 0, false
	return err
}

var le = binary.LittleEndian
