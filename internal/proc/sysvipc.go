package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ShmSeg is one System V shared memory segment of /proc/sysvipc/shm.
type ShmSeg struct {
	Key      int32
	ID       int
	Mode     uint32 // permissions and the SHM_* state bits
	Size     uint64
	Uid, Gid int
}

// shmDest is SHM_DEST: the segment is removed once the last process
// detaches.
const shmDest = 0o1000

// Removed says whether the segment was marked for removal (IPC_RMID).
func (s *ShmSeg) Removed() bool { return s.Mode&shmDest != 0 }

// ParseSysvShm parses the contents of /proc/sysvipc/shm.
func ParseSysvShm(data []byte) ([]ShmSeg, error) {
	var out []ShmSeg
	for i, line := range splitLines(data) {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue // the header
		}
		if len(f) < 9 {
			return nil, fmt.Errorf("line %d: %d fields", i+1, len(f))
		}
		key, err1 := strconv.ParseInt(f[0], 10, 64)
		id, err2 := strconv.Atoi(f[1])
		mode, err3 := strconv.ParseUint(f[2], 8, 32)
		size, err4 := strconv.ParseUint(f[3], 10, 64)
		uid, err5 := strconv.Atoi(f[7])
		gid, err6 := strconv.Atoi(f[8])
		for _, err := range []error{err1, err2, err3, err4, err5, err6} {
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
		}
		out = append(out, ShmSeg{Key: int32(key), ID: id, Mode: uint32(mode), Size: size, Uid: uid, Gid: gid})
	}
	return out, nil
}

// SysvShm returns the segment whose id is id.
func SysvShm(id int) (*ShmSeg, error) {
	data, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	segs, err := ParseSysvShm(data)
	if err != nil {
		return nil, fmt.Errorf("/proc/sysvipc/shm: %w", err)
	}
	for i := range segs {
		if segs[i].ID == id {
			return &segs[i], nil
		}
	}
	return nil, fmt.Errorf("System V shared memory segment %d: not in /proc/sysvipc/shm", id)
}

// SysvRows returns the rows of /proc/sysvipc/KIND (msg, sem, shm), each
// split in its fields, without the heading.
func SysvRows(kind string) [][]string {
	data, err := os.ReadFile("/proc/sysvipc/" + kind)
	if err != nil {
		return nil
	}
	var rows [][]string
	for _, line := range strings.Split(string(data), "\n") {
		if fs := strings.Fields(line); len(fs) > 0 && fs[0] != "key" {
			rows = append(rows, fs)
		}
	}
	return rows
}
