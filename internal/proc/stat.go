package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PF_KTHREAD is the task flag (Stat.Flags) of a kernel thread.
const PF_KTHREAD = 0x00200000

// Stat holds the fields of /proc/pid/stat that stasis uses. Comm is raw:
// unlike status, stat does not escape the task name.
type Stat struct {
	Pid                                                              int
	Comm                                                             string
	State                                                            byte
	PPid, Pgrp, Session, TtyNr, Tpgid                                int
	Flags                                                            uint32
	NumThreads                                                       int
	StartTime                                                        uint64
	StartCode, EndCode, StartStack                                   uint64
	StartData, EndData, StartBrk, ArgStart, ArgEnd, EnvStart, EnvEnd uint64
	ExitSignal                                                       int
	ExitCode                                                         int // a zombie's wait status (field 52; 0 if absent)
}

// statFields is the number of fields through env_end (field 51), which
// every kernel since 3.5 prints.
const statFields = 51

// ParseStat parses the contents of /proc/pid/stat. The comm is taken
// between the first '(' and the last ')', so it may hold any byte.
func ParseStat(data []byte) (*Stat, error) {
	open := bytes.IndexByte(data, '(')
	closing := bytes.LastIndexByte(data, ')')
	if open < 0 || closing < open {
		return nil, fmt.Errorf("no (comm) in %.40q", data)
	}
	s := &Stat{Comm: string(data[open+1 : closing])}
	var err error
	if s.Pid, err = strconv.Atoi(strings.TrimSpace(string(data[:open]))); err != nil {
		return nil, fmt.Errorf("field 1 (pid): %w", err)
	}
	f := strings.Fields(string(data[closing+1:]))
	if len(f) < statFields-2 {
		return nil, fmt.Errorf("%d fields, want at least %d", len(f)+2, statFields)
	}
	if len(f[0]) != 1 {
		return nil, fmt.Errorf("field 3 (state): bad value %q", f[0])
	}
	s.State = f[0][0]
	p := statParser{f: f}
	s.PPid, s.Pgrp, s.Session, s.TtyNr, s.Tpgid = p.int(4), p.int(5), p.int(6), p.int(7), p.int(8)
	s.Flags = uint32(p.uint(9, 32))
	s.NumThreads = p.int(20)
	s.StartTime = p.uint(22, 64)
	s.StartCode, s.EndCode, s.StartStack = p.uint(26, 64), p.uint(27, 64), p.uint(28, 64)
	s.ExitSignal = p.int(38)
	s.StartData, s.EndData, s.StartBrk = p.uint(45, 64), p.uint(46, 64), p.uint(47, 64)
	s.ArgStart, s.ArgEnd = p.uint(48, 64), p.uint(49, 64)
	s.EnvStart, s.EnvEnd = p.uint(50, 64), p.uint(51, 64)
	if len(f) >= 52-2 {
		s.ExitCode = p.int(52)
	}
	if p.err != nil {
		return nil, p.err
	}
	return s, nil
}

// statParser converts fields by their proc(5) number, keeping the first
// error.
type statParser struct {
	f   []string
	err error
}

func (p *statParser) int(n int) int {
	v, err := strconv.ParseInt(p.f[n-3], 10, 64)
	p.fail(n, err)
	return int(v)
}

func (p *statParser) uint(n, bits int) uint64 {
	v, err := strconv.ParseUint(p.f[n-3], 10, bits)
	p.fail(n, err)
	return v
}

func (p *statParser) fail(n int, err error) {
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("field %d: %w", n, err)
	}
}

// ReadStat reads and parses /proc/pid/stat.
func ReadStat(pid int) (*Stat, error) {
	data, err := readFile(pid, "stat")
	if err != nil {
		return nil, err
	}
	s, err := ParseStat(data)
	if err != nil {
		return nil, fileErr(pid, path(pid, "stat"), err)
	}
	return s, nil
}

// ResidentBytes is the resident set size of pid (/proc/pid/statm, second
// field), in bytes.
func ResidentBytes(pid int) (int64, error) {
	b, err := readFile(pid, "statm")
	if err != nil {
		return 0, err
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(b), &size, &rss); err != nil {
		return 0, fileErr(pid, path(pid, "statm"), err)
	}
	return rss * int64(os.Getpagesize()), nil
}
