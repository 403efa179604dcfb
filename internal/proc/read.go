package proc

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"

	"stasis/internal/kernel"
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

// readFile reads /proc/<pid>/<name>.
func readFile(pid int, name string) ([]byte, error) {
	p := path(pid, name)
	data, err := kernel.ReadFile(p)
	if err != nil {
		return nil, fileErr(pid, p, err)
	}
	return data, nil
}

// readNumDir returns the sorted numeric entry names of /proc/<pid>/<name>.
func readNumDir(pid int, name string) ([]int, error) {
	p := path(pid, name)
	names, err := kernel.DirNames(p)
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
