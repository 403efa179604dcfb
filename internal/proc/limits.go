package proc

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limit is one resource limit of a process: its soft and hard values,
// math.MaxUint64 for unlimited (RLIM_INFINITY), as prlimit(2) gives them.
type Limit struct {
	Cur, Max uint64
}

// limitNames are the rows of /proc/PID/limits, in the order of the
// resources' numbers (RLIMIT_CPU is 0, RLIMIT_RTTIME 15).
var limitNames = []string{"Max cpu time", "Max file size", "Max data size", "Max stack size",
	"Max core file size", "Max resident set", "Max processes", "Max open files",
	"Max locked memory", "Max address space", "Max file locks", "Max pending signals",
	"Max msgqueue size", "Max nice priority", "Max realtime priority", "Max realtime timeout"}

// ParseLimits parses /proc/PID/limits into the 16 limits, indexed by
// resource number. Every row must be there, each once.
func ParseLimits(data []byte) ([]Limit, error) {
	out := make([]Limit, len(limitNames))
	seen := make([]bool, len(limitNames))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "Limit ") {
		return nil, fmt.Errorf("no header line")
	}
	for _, l := range lines[1:] {
		res := -1
		for i, name := range limitNames {
			if strings.HasPrefix(l, name+" ") {
				res = i
				break
			}
		}
		if res < 0 {
			return nil, fmt.Errorf("unknown row %q", l)
		}
		if seen[res] {
			return nil, fmt.Errorf("row %q twice", limitNames[res])
		}
		f := strings.Fields(l[len(limitNames[res]):])
		if len(f) < 2 {
			return nil, fmt.Errorf("row %q: want soft and hard limits", l)
		}
		var v [2]uint64
		for j := range v {
			if f[j] == "unlimited" {
				v[j] = math.MaxUint64
				continue
			}
			n, err := strconv.ParseUint(f[j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("row %q: %v", l, err)
			}
			v[j] = n
		}
		out[res], seen[res] = Limit{Cur: v[0], Max: v[1]}, true
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("no row %q", limitNames[i])
		}
	}
	return out, nil
}

// ReadLimits reads /proc/PID/limits, which anyone may read, unlike
// prlimit(2) on another user's process without CAP_SYS_RESOURCE.
func ReadLimits(pid int) ([]Limit, error) {
	data, err := readFile(pid, "limits")
	if err != nil {
		return nil, err
	}
	l, err := ParseLimits(data)
	if err != nil {
		return nil, fileErr(pid, path(pid, "limits"), err)
	}
	return l, nil
}
