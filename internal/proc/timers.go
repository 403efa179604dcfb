package proc

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Timer is one POSIX timer from /proc/pid/timers. Notify is "signal",
// "thread" or "none"; NotifyTid is set when the target is a thread
// (SIGEV_THREAD_ID, written "signal/tid.N"), and NotifyPid is that pid or
// tid. Clock may be negative (a CPU-time clock of a given process or
// thread).
type Timer struct {
	ID         int
	Signal     int
	SigevValue uint64
	Notify     string
	NotifyPid  int
	NotifyTid  bool
	Clock      int
}

// ParseTimers parses the contents of /proc/pid/timers: blocks of
//
//	ID: 0
//	signal: 14/0000000000000000
//	notify: signal/pid.1234
//	ClockID: 1
//
// The result is sorted by ID (the kernel lists the newest first).
func ParseTimers(data []byte) ([]Timer, error) {
	var out []Timer
	for i, line := range splitLines(data) {
		key, val, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, fmt.Errorf("line %d: malformed %q", i+1, line)
		}
		if key == "ID" {
			out = append(out, Timer{})
		} else if len(out) == 0 {
			return nil, fmt.Errorf("line %d: %s before ID", i+1, key)
		}
		if err := out[len(out)-1].parseLine(key, val); err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", i+1, key, err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (t *Timer) parseLine(key, val string) error {
	var err error
	switch key {
	case "ID":
		t.ID, err = strconv.Atoi(val)
	case "signal":
		sig, v, ok := strings.Cut(val, "/")
		var err1, err2 error
		t.Signal, err1 = strconv.Atoi(sig)
		t.SigevValue, err2 = strconv.ParseUint(v, 16, 64)
		if !ok || err1 != nil || err2 != nil {
			err = fmt.Errorf("malformed %q", val)
		}
	case "notify":
		how, who, ok := strings.Cut(val, "/")
		kind, id, ok2 := strings.Cut(who, ".")
		var err1 error
		t.NotifyPid, err1 = strconv.Atoi(id)
		t.Notify, t.NotifyTid = how, kind == "tid"
		if !ok || !ok2 || err1 != nil || (kind != "pid" && kind != "tid") ||
			(how != "signal" && how != "thread" && how != "none") {
			err = fmt.Errorf("malformed %q", val)
		}
	case "ClockID":
		t.Clock, err = strconv.Atoi(val)
	}
	return err
}

// ReadTimers reads and parses /proc/pid/timers.
func ReadTimers(pid int) ([]Timer, error) {
	data, err := readFile(pid, "timers")
	if err != nil {
		return nil, err
	}
	t, err := ParseTimers(data)
	if err != nil {
		return nil, fileErr(pid, path(pid, "timers"), err)
	}
	return t, nil
}
