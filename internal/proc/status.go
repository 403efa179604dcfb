package proc

import (
	"fmt"
	"strconv"
	"strings"
)

// Status holds the fields of /proc/pid/status that stasis uses. State is
// the whole value, e.g. "S (sleeping)". Name is unescaped (the kernel
// writes a newline in it as `\n` and a backslash as `\\`).
type Status struct {
	Name                                   string
	Umask                                  uint32
	HasUmask                               bool
	State                                  string
	Tgid, Pid, PPid, TracerPid             int
	Uid, Gid                               [4]int
	Groups                                 []int
	NStgid, NSpid                          []int
	NSpgid, NSsid                          []int
	Threads                                int
	SigQ                                   string
	ShdPnd, SigBlk, SigIgn, SigCgt         uint64
	CapInh, CapPrm, CapEff, CapBnd, CapAmb uint64
	NoNewPrivs                             int
	Seccomp                                int
	SeccompFilters                         int  // Seccomp_filters: how many filters
	Kthread                                bool // "Kthread: 1" (Linux 6.5 and later)
	HasKthread                             bool // the Kthread line is there
}

// ParseStatus parses the contents of /proc/pid/status. Unknown keys are
// ignored; the Name and Pid lines are required.
func ParseStatus(data []byte) (*Status, error) {
	s := new(Status)
	var haveName, havePid bool
	for i, line := range splitLines(data) {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: no colon in %q", i+1, line)
		}
		raw := val
		val = strings.TrimLeft(val, " \t")
		var err error
		switch key {
		case "Name": // "Name:\t" then the name, which may start with blanks
			s.Name, haveName = unescapeName(strings.TrimPrefix(raw, "\t")), true
		case "Umask":
			var u uint64
			u, err = strconv.ParseUint(val, 8, 32)
			s.Umask, s.HasUmask = uint32(u), err == nil
		case "State":
			s.State = val
		case "Tgid":
			s.Tgid, err = strconv.Atoi(val)
		case "Pid":
			s.Pid, err = strconv.Atoi(val)
			havePid = true
		case "PPid":
			s.PPid, err = strconv.Atoi(val)
		case "TracerPid":
			s.TracerPid, err = strconv.Atoi(val)
		case "Uid", "Gid":
			var ids []int
			if ids, err = intList(val); err == nil && len(ids) != 4 {
				err = fmt.Errorf("want 4 ids, got %d", len(ids))
			}
			if err == nil && key == "Uid" {
				copy(s.Uid[:], ids)
			} else if err == nil {
				copy(s.Gid[:], ids)
			}
		case "Groups":
			s.Groups, err = intList(val)
		case "NStgid":
			s.NStgid, err = intList(val)
		case "NSpid":
			s.NSpid, err = intList(val)
		case "NSpgid":
			s.NSpgid, err = intList(val)
		case "NSsid":
			s.NSsid, err = intList(val)
		case "Threads":
			s.Threads, err = strconv.Atoi(val)
		case "SigQ":
			s.SigQ = val
		case "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
			var v uint64
			v, err = strconv.ParseUint(val, 16, 64)
			*s.hexField(key) = v
		case "NoNewPrivs":
			s.NoNewPrivs, err = strconv.Atoi(val)
		case "Seccomp":
			s.Seccomp, err = strconv.Atoi(val)
		case "Seccomp_filters":
			s.SeccompFilters, err = strconv.Atoi(val)
		case "Kthread":
			var k int
			k, err = strconv.Atoi(val)
			s.Kthread, s.HasKthread = k != 0, true
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", i+1, key, err)
		}
	}
	if !haveName || !havePid {
		return nil, fmt.Errorf("missing Name or Pid line")
	}
	return s, nil
}

func (s *Status) hexField(key string) *uint64 {
	return map[string]*uint64{
		"ShdPnd": &s.ShdPnd, "SigBlk": &s.SigBlk, "SigIgn": &s.SigIgn, "SigCgt": &s.SigCgt,
		"CapInh": &s.CapInh, "CapPrm": &s.CapPrm, "CapEff": &s.CapEff, "CapBnd": &s.CapBnd, "CapAmb": &s.CapAmb,
	}[key]
}

// ReadStatus reads and parses /proc/pid/status.
func ReadStatus(pid int) (*Status, error) { return readStatus(pid, "status") }

// ReadTaskStatus reads and parses /proc/pid/task/tid/status.
func ReadTaskStatus(pid, tid int) (*Status, error) {
	return readStatus(pid, "task/"+strconv.Itoa(tid)+"/status")
}

func readStatus(pid int, name string) (*Status, error) {
	data, err := readFile(pid, name)
	if err != nil {
		return nil, err
	}
	s, err := ParseStatus(data)
	if err != nil {
		return nil, fileErr(pid, path(pid, name), err)
	}
	return s, nil
}

// intList parses whitespace-separated decimal integers.
func intList(s string) ([]int, error) {
	f := strings.Fields(s)
	out := make([]int, 0, len(f))
	for _, w := range f {
		v, err := strconv.Atoi(w)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// unescapeName undoes the kernel's string_escape_mem(ESCAPE_SPACE |
// ESCAPE_SPECIAL) on the task name. Only `\n` and `\\` are produced today;
// the other C escapes are decoded too, and an unknown escape is kept.
func unescapeName(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		r, ok := nameEscapes[s[i+1]]
		if !ok {
			b.WriteByte(c)
			continue
		}
		b.WriteByte(r)
		i++
	}
	return b.String()
}

var nameEscapes = map[byte]byte{'n': '\n', '\\': '\\', 't': '\t', 'r': '\r', 'f': '\f',
	'v': '\v', 'a': '\a', 'e': 0x1b, '"': '"'}
