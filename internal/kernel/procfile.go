package kernel

import (
	"os"

	"golang.org/x/sys/unix"
)

// The files of /proc are read by the thousand in one checkpoint (a few
// for each process of the machine to resolve a scope, a dozen for each
// process saved). os.ReadFile and os.Open also hand each file to the
// runtime's poller, which costs six system calls more than the open, read
// and close that a /proc file needs (it never blocks); these do just
// those three.

// ReadFile reads the whole of the file at path, as os.ReadFile does, with
// open, read and close only. Its errors are *os.PathError.
func ReadFile(path string) ([]byte, error) {
	fd, err := open(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 4096)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// DirNames returns the names in the directory at path but "." and "..",
// in the order the kernel gives them, as os.File.Readdirnames does, with
// open, getdents64 and close only. Its errors are *os.PathError.
func DirNames(path string) ([]string, error) {
	fd, err := open(path, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "readdirent", Path: path, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

func open(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// OpenFile opens the file at path with flags (os.O_RDONLY, os.O_RDWR),
// as os.OpenFile does but without handing it to the runtime's poller: for
// a /proc file read and written with pread and pwrite, which never block
// (/proc/PID/mem, pagemap), two system calls instead of six. Its errors
// are *os.PathError.
func OpenFile(path string, flags int) (*os.File, error) {
	fd, err := open(path, flags)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}
