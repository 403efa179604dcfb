package proc

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"
)

// path returns /proc/<pid>/<name>.
func path(pid int, name string) string {
	return "/proc/" + strconv.Itoa(pid) + "/" + name
}

// fileErr wraps err as "pid P: /proc/P/name: reason", dropping the
// *os.PathError layer so the path is not repeated; the errno stays wrapped
// (a missing process or fd gives ENOENT, which errors.Is treats as
// os.ErrNotExist).
func fileErr(pid int, file string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("pid %d: %s: %w", pid, file, err)
}

// readFile reads /proc/<pid>/<name>: with open, read and close only
// (os.ReadFile adds an fstat and tries to register the file with the
// runtime's poller, three calls that fail or tell nothing here, for each
// of the thousands of fdinfo files of a process with thousands of fds).
func readFile(pid int, name string) ([]byte, error) {
	p := path(pid, name)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fileErr(pid, p, err)
	}
	defer unix.Close(fd)
	data := make([]byte, 0, 512)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := unix.Read(fd, data[len(data):cap(data)])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, fileErr(pid, p, err)
		case n == 0:
			return data, nil
		}
		data = data[:len(data)+n]
	}
}

// readNumDir returns the sorted numeric entry names of /proc/<pid>/<name>.
func readNumDir(pid int, name string) ([]int, error) {
	p := path(pid, name)
	f, err := os.Open(p)
	if err != nil {
		return nil, fileErr(pid, p, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fileErr(pid, p, err)
	}
	out := make([]int, 0, len(names))
	for _, n := range names {
		v, err := strconv.Atoi(n)
		if err != nil {
			return nil, fileErr(pid, p, fmt.Errorf("unexpected entry %q", n))
		}
		out = append(out, v)
	}
	sort.Ints(out)
	return out, nil
}
