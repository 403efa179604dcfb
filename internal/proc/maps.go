package proc

import (
	"fmt"
	"strconv"
	"strings"
)

// Mapping is one line of /proc/pid/maps.
//
// Path is everything after the inode column with the padding removed; it
// may contain spaces, and the kernel writes a newline in a file name as the
// four bytes `\012` (backslashes are not escaped, so this is ambiguous and
// left as is). A trailing " (deleted)" is removed and reported as Deleted.
// Pseudo names such as "[heap]", "[stack]", "[vdso]" or "[anon:name]" are
// kept as they are; an anonymous mapping has Path "".
type Mapping struct {
	Start, End                uint64
	Read, Write, Exec, Shared bool
	Offset                    uint64
	Major, Minor              uint32
	Inode                     uint64
	Path                      string
	Deleted                   bool
}

const deletedSuffix = " (deleted)"

// ParseMaps parses the contents of /proc/pid/maps.
func ParseMaps(data []byte) ([]Mapping, error) {
	var out []Mapping
	for i, line := range splitLines(data) {
		m, err := parseMapLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// ReadMaps reads and parses /proc/pid/maps.
func ReadMaps(pid int) ([]Mapping, error) {
	data, err := readFile(pid, "maps")
	if err != nil {
		return nil, err
	}
	m, err := ParseMaps(data)
	if err != nil {
		return nil, fileErr(pid, path(pid, "maps"), err)
	}
	return m, nil
}

// splitLines splits data at '\n', without a final empty line.
func splitLines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	s := strings.TrimSuffix(string(data), "\n")
	return strings.Split(s, "\n")
}

// nextField returns the text up to the next space and the rest after it.
func nextField(s string) (field, rest string, ok bool) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func parseMapLine(line string) (Mapping, error) {
	var m Mapping
	rng, rest, ok := nextField(line)
	if !ok {
		return m, fmt.Errorf("too few fields in %q", line)
	}
	lo, hi, ok := strings.Cut(rng, "-")
	var err1, err2 error
	m.Start, err1 = strconv.ParseUint(lo, 16, 64)
	m.End, err2 = strconv.ParseUint(hi, 16, 64)
	if !ok || err1 != nil || err2 != nil || m.Start > m.End {
		return m, fmt.Errorf("bad address range %q", rng)
	}
	perms, rest, ok := nextField(rest)
	if !ok || len(perms) != 4 || !okChar(perms[0], 'r') || !okChar(perms[1], 'w') ||
		!okChar(perms[2], 'x') || (perms[3] != 's' && perms[3] != 'p') {
		return m, fmt.Errorf("bad permissions %q", perms)
	}
	m.Read, m.Write, m.Exec, m.Shared = perms[0] == 'r', perms[1] == 'w', perms[2] == 'x', perms[3] == 's'
	off, rest, ok := nextField(rest)
	if m.Offset, err1 = strconv.ParseUint(off, 16, 64); !ok || err1 != nil {
		return m, fmt.Errorf("bad offset %q", off)
	}
	dev, rest, ok := nextField(rest)
	maj, min, ok2 := strings.Cut(dev, ":")
	ma, err1 := strconv.ParseUint(maj, 16, 32)
	mi, err2 := strconv.ParseUint(min, 16, 32)
	if !ok || !ok2 || err1 != nil || err2 != nil {
		return m, fmt.Errorf("bad device %q", dev)
	}
	m.Major, m.Minor = uint32(ma), uint32(mi)
	ino, rest, _ := nextField(rest)
	if m.Inode, err1 = strconv.ParseUint(ino, 10, 64); err1 != nil {
		return m, fmt.Errorf("bad inode %q", ino)
	}
	m.Path = strings.TrimLeft(rest, " ")
	if p, ok := strings.CutSuffix(m.Path, deletedSuffix); ok {
		m.Path, m.Deleted = p, true
	}
	return m, nil
}

func okChar(c, want byte) bool { return c == want || c == '-' }

// ParseSmapsFlags returns the VmFlags words of each mapping in the
// contents of /proc/pid/smaps, keyed by the mapping's start address. A
// mapping without a VmFlags line has no entry.
func ParseSmapsFlags(data []byte) (map[uint64][]string, error) {
	_, flags, err := ParseSmaps(data)
	return flags, err
}

// ParseSmaps parses the contents of /proc/pid/smaps: its mappings, whose
// lines are those of /proc/pid/maps, and the VmFlags words of each, keyed
// by the mapping's start address (a mapping without a VmFlags line has no
// entry).
func ParseSmaps(data []byte) ([]Mapping, map[uint64][]string, error) {
	var maps []Mapping
	flags := make(map[uint64][]string)
	for i, line := range splitLines(data) {
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			if len(maps) == 0 {
				return nil, nil, fmt.Errorf("line %d: VmFlags before any mapping", i+1)
			}
			flags[maps[len(maps)-1].Start] = strings.Fields(rest)
			continue
		}
		// Mapping headers start with "start-end "; field lines with "Key:".
		first, _, _ := nextField(line)
		if strings.HasSuffix(first, ":") || !strings.Contains(first, "-") {
			continue
		}
		m, err := parseMapLine(line)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		maps = append(maps, m)
	}
	return maps, flags, nil
}

// ReadSmaps reads /proc/pid/smaps and returns its mappings and their
// VmFlags (see ParseSmaps): what ReadMaps and ReadSmapsFlags return, from
// one read.
func ReadSmaps(pid int) ([]Mapping, map[uint64][]string, error) {
	data, err := readFile(pid, "smaps")
	if err != nil {
		return nil, nil, err
	}
	m, f, err := ParseSmaps(data)
	if err != nil {
		return nil, nil, fileErr(pid, path(pid, "smaps"), err)
	}
	return m, f, nil
}

// ReadSmapsFlags reads /proc/pid/smaps and returns the VmFlags words
// ("rd", "wr", "gd", "dd", ...) of each mapping keyed by start address.
func ReadSmapsFlags(pid int) (map[uint64][]string, error) {
	data, err := readFile(pid, "smaps")
	if err != nil {
		return nil, err
	}
	f, err := ParseSmapsFlags(data)
	if err != nil {
		return nil, fileErr(pid, path(pid, "smaps"), err)
	}
	return f, nil
}
