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
// does not show. It uses a syscall instruction of the vDSO, so no code is
// written into the process, and one scratch page it maps and unmaps.
type asker struct {
	pid     int
	gate    uint64
	scratch uint64
	mem     *ptrace.Mem
	leader  *task
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

// call runs one system call in t.
//
// Precondition: called on the owner thread.
func (a *asker) call(t *task, nr uint64, args ...uint64) (uint64, error) {
	if !t.touched {
		// Signals must not be delivered while we borrow the thread.
		if err := kernel.SetSigmask(t.tid, ^uint64(0)); err != nil {
			return 0, fmt.Errorf("tid %d: %w", t.tid, err)
		}
		t.touched = true
	}
	r := ptrace.Remote{Tid: t.tid, Gate: a.gate, Base: t.regs}
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

func (a *asker) mapScratch() error {
	v, err := a.call(a.leader, unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	a.scratch = v
	return err
}

func (a *asker) unmapScratch() error {
	if a.scratch == 0 {
		return nil
	}
	_, err := a.call(a.leader, unix.SYS_MUNMAP, a.scratch, 4096)
	a.scratch = 0
	return err
}

var le = binary.LittleEndian
