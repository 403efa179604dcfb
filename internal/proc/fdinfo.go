package proc

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// EpollTfd is one "tfd:" line of an epoll fdinfo: a watched fd with its
// event mask (as the kernel keeps it: EPOLLERR|EPOLLHUP are always added)
// and user data. Pos, Ino and Sdev identify the watched file description
// (Sdev is the kernel's dev_t encoding, major<<20|minor).
type EpollTfd struct {
	Fd     int
	Events uint32
	Data   uint64
	Pos    int64
	Ino    uint64
	Sdev   uint32
}

// TimerfdInfo is the timerfd part of an fdinfo. Value is the time left
// until the next expiry, not the value last set.
type TimerfdInfo struct {
	Clock                     int
	Ticks                     uint64
	SettimeFlags              int
	ValueSec, ValueNsec       int64
	IntervalSec, IntervalNsec int64
}

// FdInfo is the parsed /proc/pid/fdinfo/N. Flags is the open-file flags
// (octal in the file), with O_CLOEXEC set for a close-on-exec fd. IsEpoll
// and Inotify are set only when at least one watch is listed; use FdLink
// ("anon_inode:[eventpoll]", "anon_inode:inotify") to recognise an empty one.
type FdInfo struct {
	Pos              int64
	Flags            int
	MntID            int
	Ino              uint64
	EventfdCount     uint64
	IsEventfd        bool
	EventfdSemaphore bool
	Epoll            []EpollTfd
	IsEpoll          bool
	Timerfd          *TimerfdInfo
	SignalfdMask     uint64
	IsSignalfd       bool
	Inotify          bool
	InotifyWatches   []InotifyWatch
	Fanotify         bool
}

// InotifyWatch is one "inotify" line of an inotify fdinfo: a watch with
// its descriptor, the watched inode (Sdev in the kernel's dev_t encoding,
// major<<20|minor), the mask as inotify_add_watch takes it, and the
// inode's file handle (HandleType -1 and no Handle when the file system
// gives none).
type InotifyWatch struct {
	Wd         int
	Ino        uint64
	Sdev       uint32
	Mask       uint32
	HandleType int
	Handle     []byte
}

// ParseFdInfo parses the contents of /proc/pid/fdinfo/N. Unknown lines
// (file locks, pidfd and tty fields, ...) are ignored.
func ParseFdInfo(data []byte) (*FdInfo, error) {
	fi := new(FdInfo)
	for i, line := range splitLines(data) {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: no colon in %q", i+1, line)
		}
		if err := fi.parseLine(key, strings.TrimSpace(val)); err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", i+1, key, err)
		}
	}
	return fi, nil
}

func (fi *FdInfo) parseLine(key, val string) error {
	var err error
	var u uint64
	tfd := func() *TimerfdInfo {
		if fi.Timerfd == nil {
			fi.Timerfd = new(TimerfdInfo)
		}
		return fi.Timerfd
	}
	switch {
	case key == "pos":
		fi.Pos, err = strconv.ParseInt(val, 10, 64)
	case key == "flags":
		u, err = strconv.ParseUint(val, 8, 32)
		fi.Flags = int(u)
	case key == "mnt_id":
		fi.MntID, err = strconv.Atoi(val)
	case key == "ino":
		fi.Ino, err = strconv.ParseUint(val, 10, 64)
	case key == "eventfd-count":
		fi.EventfdCount, err = strconv.ParseUint(val, 16, 64)
		fi.IsEventfd = true
	case key == "eventfd-semaphore":
		fi.EventfdSemaphore, err = val == "1", bit(val)
	case key == "tfd":
		var t EpollTfd
		t, err = parseTfd(val)
		fi.Epoll, fi.IsEpoll = append(fi.Epoll, t), true
	case key == "clockid":
		tfd().Clock, err = strconv.Atoi(val)
	case key == "ticks":
		tfd().Ticks, err = strconv.ParseUint(val, 10, 64)
	case key == "settime flags":
		u, err = strconv.ParseUint(val, 8, 32)
		tfd().SettimeFlags = int(u)
	case key == "it_value":
		t := tfd()
		t.ValueSec, t.ValueNsec, err = parsePair(val)
	case key == "it_interval":
		t := tfd()
		t.IntervalSec, t.IntervalNsec, err = parsePair(val)
	case key == "sigmask":
		fi.SignalfdMask, err = strconv.ParseUint(val, 16, 64)
		fi.IsSignalfd = true
	case key == "inotify wd":
		var w InotifyWatch
		w, err = parseInotify(val)
		fi.InotifyWatches, fi.Inotify = append(fi.InotifyWatches, w), true
	case strings.HasPrefix(key, "inotify "):
		fi.Inotify = true
	case strings.HasPrefix(key, "fanotify "):
		fi.Fanotify = true
	}
	return err
}

func bit(s string) error {
	if s != "0" && s != "1" {
		return fmt.Errorf("want 0 or 1, got %q", s)
	}
	return nil
}

// parseTfd parses "%8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x"
// (the text after "tfd:"); pos, ino and sdev are optional.
func parseTfd(val string) (EpollTfd, error) {
	var t EpollTfd
	f := strings.Fields(val)
	if len(f) < 5 || f[1] != "events:" || f[3] != "data:" {
		return t, fmt.Errorf("malformed %q", val)
	}
	fd, err1 := strconv.Atoi(f[0])
	ev, err2 := strconv.ParseUint(f[2], 16, 32)
	data, err3 := strconv.ParseUint(f[4], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return t, fmt.Errorf("malformed %q", val)
	}
	t.Fd, t.Events, t.Data = fd, uint32(ev), data
	for _, w := range f[5:] {
		k, v, _ := strings.Cut(w, ":")
		var err error
		switch k {
		case "pos":
			t.Pos, err = strconv.ParseInt(v, 10, 64)
		case "ino":
			t.Ino, err = strconv.ParseUint(v, 16, 64)
		case "sdev":
			var d uint64
			d, err = strconv.ParseUint(v, 16, 32)
			t.Sdev = uint32(d)
		}
		if err != nil {
			return t, fmt.Errorf("malformed %q", val)
		}
	}
	return t, nil
}

// parseInotify parses "%x ino:%lx sdev:%x mask:%x ignored_mask:0
// fhandle-bytes:%x fhandle-type:%x f_handle:%02x..." (the text after
// "inotify wd:"); the handle is optional.
func parseInotify(val string) (InotifyWatch, error) {
	w := InotifyWatch{HandleType: -1}
	f := strings.Fields(val)
	if len(f) < 4 {
		return w, fmt.Errorf("malformed %q", val)
	}
	wd, err := strconv.ParseUint(f[0], 16, 31)
	if err != nil {
		return w, fmt.Errorf("malformed %q", val)
	}
	w.Wd = int(wd)
	seen := 0
	for _, word := range f[1:] {
		k, v, _ := strings.Cut(word, ":")
		var u uint64
		var err error
		switch k {
		case "ino":
			w.Ino, err = strconv.ParseUint(v, 16, 64)
			seen++
		case "sdev":
			u, err = strconv.ParseUint(v, 16, 32)
			w.Sdev = uint32(u)
			seen++
		case "mask":
			u, err = strconv.ParseUint(v, 16, 32)
			w.Mask = uint32(u)
			seen++
		case "fhandle-type":
			u, err = strconv.ParseUint(v, 16, 31)
			w.HandleType = int(u)
		case "f_handle":
			w.Handle, err = hex.DecodeString(v)
		}
		if err != nil {
			return w, fmt.Errorf("malformed %q", val)
		}
	}
	if seen != 3 {
		return w, fmt.Errorf("malformed %q", val)
	}
	if w.Handle == nil {
		w.HandleType = -1
	}
	return w, nil
}

// parsePair parses "(sec, nsec)".
func parsePair(val string) (int64, int64, error) {
	in, ok := strings.CutPrefix(val, "(")
	in, ok2 := strings.CutSuffix(in, ")")
	a, b, ok3 := strings.Cut(in, ",")
	x, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	y, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if !ok || !ok2 || !ok3 || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("malformed %q", val)
	}
	return x, y, nil
}

// ReadFdInfo reads and parses /proc/pid/fdinfo/fd.
func ReadFdInfo(pid, fd int) (*FdInfo, error) {
	name := "fdinfo/" + strconv.Itoa(fd)
	data, err := readFile(pid, name)
	if err != nil {
		return nil, err
	}
	fi, err := ParseFdInfo(data)
	if err != nil {
		return nil, fileErr(pid, path(pid, name), err)
	}
	return fi, nil
}

// Fds returns the sorted open fd numbers of the process, from /proc/pid/fd.
func Fds(pid int) ([]int, error) { return readNumDir(pid, "fd") }

// FdLink returns the target of the /proc/pid/fd/fd link, e.g. a path,
// "pipe:[1234]" or "anon_inode:[eventfd]".
func FdLink(pid, fd int) (string, error) { return Readlink(pid, "fd/"+strconv.Itoa(fd)) }
