package proc

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Tasks returns the sorted thread ids of the process, from /proc/pid/task.
func Tasks(pid int) ([]int, error) { return readNumDir(pid, "task") }

// Children returns the sorted union of /proc/pid/task/*/children. A thread
// that exits while they are read is skipped.
func Children(pid int) ([]int, error) {
	tids, err := Tasks(pid)
	if err != nil {
		return nil, err
	}
	seen := make(map[int]bool)
	var out []int
	for _, tid := range tids {
		name := "task/" + strconv.Itoa(tid) + "/children"
		data, err := readFile(pid, name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, w := range strings.Fields(string(data)) {
			c, err := strconv.Atoi(w)
			if err != nil {
				return nil, fileErr(pid, path(pid, name), fmt.Errorf("bad pid %q", w))
			}
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	if _, err := os.Stat(path(pid, "task")); err != nil {
		return nil, fileErr(pid, path(pid, "task"), err) // the process itself is gone
	}
	sort.Ints(out)
	return out, nil
}

// ReadAuxv returns the raw contents of /proc/pid/auxv.
func ReadAuxv(pid int) ([]byte, error) { return readFile(pid, "auxv") }

// ReadPersonality returns the personality word from /proc/pid/personality
// (written in hex; reading it needs ptrace access to the process).
func ReadPersonality(pid int) (uint32, error) {
	data, err := readFile(pid, "personality")
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 16, 32)
	if err != nil {
		return 0, fileErr(pid, path(pid, "personality"), err)
	}
	return uint32(v), nil
}

// Readlink returns the target of the link /proc/pid/name, e.g. "cwd",
// "root", "exe" or "fd/3".
func Readlink(pid int, name string) (string, error) {
	p := path(pid, name)
	s, err := os.Readlink(p)
	if err != nil {
		return "", fileErr(pid, p, err)
	}
	return s, nil
}

// ReadComm returns /proc/pid/task/tid/comm without its trailing newline.
// The name is raw: it may contain any byte but NUL, newlines included.
func ReadComm(pid, tid int) (string, error) {
	data, err := readFile(pid, "task/"+strconv.Itoa(tid)+"/comm")
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(data), "\n"), nil
}
