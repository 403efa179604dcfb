package ptrace

import (
	"fmt"
	"os"
	"strconv"

	"stasis/internal/kernel"
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
	f, err := kernel.OpenFile("/proc/"+strconv.Itoa(pid)+"/mem", flag)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	return &Mem{pid: pid, f: f}, nil
}

// ReadAt reads len(b) bytes at addr.
func (m *Mem) ReadAt(b []byte, addr uint64) error {
	n, err := m.f.ReadAt(b, int64(addr))
	if err != nil || n != len(b) {
		return fmt.Errorf("pid %d: read %d bytes at %#x: got %d: %v", m.pid, len(b), addr, n, err)
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
