package ptrace

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Mem reads and writes a process's memory through /proc/PID/mem, which
// reaches mappings whatever their protection (the kernel forces access for
// a tracer).
type Mem struct {
	pid int
	f   *os.File
}

// OpenMem opens the memory of pid for reading and, with write, writing.
func OpenMem(pid int, write bool) (*Mem, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	// Not os.OpenFile, which hands the file to the runtime's poller (four
	// system calls more): it is read with pread and never blocks.
	p := "/proc/" + strconv.Itoa(pid) + "/mem"
	fd, err := unix.Open(p, flag|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(p, flag|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, &os.PathError{Op: "open", Path: p, Err: err})
	}
	return &Mem{pid: pid, f: os.NewFile(uintptr(fd), p)}, nil
}

// ReadAt reads len(b) bytes at addr.
func (m *Mem) ReadAt(b []byte, addr uint64) error {
	n, err := m.f.ReadAt(b, int64(addr))
	if err != nil || n != len(b) {
		return fmt.Errorf("pid %d: read %d bytes at %#x: got %d: %v", m.pid, len(b), addr, n, err)
	}
	return nil
}

// ReadOwnAt reads len(b) bytes at addr, like ReadAt, with
// process_vm_readv: it copies each page once, where ReadAt copies it twice
// (through a page of the kernel's, one page per call into the memory
// manager), but it pins the pages it reads, and the kernel copies a
// copy-on-write page that another process still shares before it pins it.
// So only for pages that the process alone maps (pagemap's PMExclusive),
// where pinning copies nothing. What process_vm_readv cannot read is read
// with ReadAt, which says why it failed if it does.
func (m *Mem) ReadOwnAt(b []byte, addr uint64) error {
	for len(b) > 0 {
		n, err := unix.ProcessVMReadv(m.pid, []unix.Iovec{{Base: &b[0], Len: uint64(len(b))}},
			[]unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}, 0)
		if err != nil || n <= 0 {
			return m.ReadAt(b, addr)
		}
		b, addr = b[n:], addr+uint64(n)
	}
	return nil
}

// WriteAt writes b at addr.
func (m *Mem) WriteAt(b []byte, addr uint64) error {
	n, err := m.f.WriteAt(b, int64(addr))
	if err != nil || n != len(b) {
		return fmt.Errorf("pid %d: write %d bytes at %#x: wrote %d: %v", m.pid, len(b), addr, n, err)
	}
	return nil
}

// Close closes the memory file.
func (m *Mem) Close() error { return m.f.Close() }
