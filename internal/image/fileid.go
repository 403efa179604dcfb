package image

import (
	"os"

	"golang.org/x/sys/unix"
)

// FileID names a file by its device and inode: how /proc/PID/maps names
// the file a mapping is of, also after the file was removed.
type FileID struct {
	Major, Minor uint32
	Ino          uint64
}

// FileIDOf returns the FileID of an open file.
func FileIDOf(f *os.File) (FileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return FileID{}, os.NewSyscallError("fstat "+f.Name(), err)
	}
	return FileID{Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev), Ino: st.Ino}, nil
}
