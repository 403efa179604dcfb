package checkpoint

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/proc"
)

// devices that are reopened by path on restart.
var devices = map[string]bool{
	"/dev/null": true, "/dev/zero": true, "/dev/full": true, "/dev/random": true, "/dev/urandom": true,
}

// fileData is the content of an fd that the image must carry.
// keptMax bounds the contents of small files one process's image keeps.
const keptMax = 64 << 20

type fileData struct {
	idx   int
	fd    int
	small bool // a small regular file kept, not a memfd or deleted file
}

// fds describes every open file descriptor of pid, with what was seen of
// them already where seen has it. The contents of regular files smaller
// than keepBelow bytes are kept, up to keptMax in all, once for all the
// fds of one file.
func fds(pid int, agent map[int]bool, shared map[int]image.Fd, seen map[int]openFd, keepBelow int64) ([]image.Fd, []fileData, error) {
	kept := int64(0)
	nums, err := proc.Fds(pid)
	if err != nil {
		return nil, nil, err
	}
	var out []image.Fd
	var data []fileData
	keptAs := map[[2]uint64]int{} // the data index of each small file kept, by device and inode
	for _, n := range nums {
		if f, ok := shared[n]; ok && !agent[n] {
			out = append(out, f)
			continue
		}
		var f image.Fd
		if agent[n] {
			f, err = describeAgentFd(pid, n)
		} else if o, ok := seen[n]; ok {
			f, err = describeSeenFd(pid, n, o.link, o.info, o.st)
		} else {
			f, err = describeFd(pid, n)
		}
		if err != nil {
			return nil, nil, err
		}
		small := f.Kind == image.FdFile && f.Mode&unix.S_IFMT == unix.S_IFREG && f.Size < keepBelow && f.State != nil
		var file [2]uint64
		if small {
			file = [2]uint64{f.State.Dev, f.State.Ino}
			if idx, ok := keptAs[file]; ok { // kept once for all its fds
				f.DataIdx = idx
				out = append(out, f)
				continue
			}
			small = kept+f.Size <= keptMax
		}
		if f.Kind == image.FdMemfd || f.Kind == image.FdDeleted || small {
			f.DataIdx = len(data) + 1
			data = append(data, fileData{idx: f.DataIdx, fd: n, small: small})
			if small {
				kept += f.Size
				keptAs[file] = f.DataIdx
			}
		}
		out = append(out, f)
	}
	return out, data, nil
}

// describeAgentFd describes libcr's connection to the agent.
func describeAgentFd(pid, n int) (image.Fd, error) {
	f := image.Fd{Num: n, Kind: image.FdAgent}
	link, err := proc.FdLink(pid, n)
	if err != nil {
		return f, err
	}
	if !strings.HasPrefix(link, "socket:") {
		return f, fmt.Errorf("pid %d fd %d: %s, not the agent connection libcr registered", pid, n, link)
	}
	info, err := proc.ReadFdInfo(pid, n)
	if err != nil {
		return f, err
	}
	f.Flags = info.Flags
	return f, nil
}

func describeFd(pid, n int) (image.Fd, error) {
	link, err := proc.FdLink(pid, n)
	if err != nil {
		return image.Fd{Num: n}, err
	}
	info, err := proc.ReadFdInfo(pid, n)
	if err != nil {
		return image.Fd{Num: n}, err
	}
	return describeSeenFd(pid, n, link, info, nil)
}

// describeSeenFd is describeFd with fd n's link and fdinfo read, and the
// status of the file it names if st is not nil.
func describeSeenFd(pid, n int, link string, info *proc.FdInfo, st *unix.Stat_t) (image.Fd, error) {
	f := image.Fd{Num: n}
	f.Flags, f.Pos = info.Flags, info.Pos
	fail := func(what string) (image.Fd, error) {
		return f, fmt.Errorf("pid %d fd %d: %s (%s): not checkpointable", pid, n, what, link)
	}
	stdio := n <= 2
	switch {
	case strings.HasPrefix(link, "/"):
		if st == nil {
			st = new(unix.Stat_t)
			if err := unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", pid, n), st); err != nil {
				return f, fmt.Errorf("pid %d fd %d: %s: %w", pid, n, link, err)
			}
		}
		f.Mode, f.Size = st.Mode, st.Size
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			switch {
			case isMqueue(pid, n):
				return describeMqueue(f, pid, n, link, st)
			case strings.HasPrefix(link, "/memfd:"):
				f.Kind, f.Path = image.FdMemfd, strings.TrimSuffix(strings.TrimPrefix(link, "/memfd:"), " (deleted)")
			case strings.HasSuffix(link, " (deleted)"):
				f.Kind, f.Path = image.FdDeleted, strings.TrimSuffix(link, " (deleted)")
			default:
				f.Kind, f.Path = image.FdFile, link
				f.State = &image.FileState{Dev: st.Dev, Ino: st.Ino, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
			}
		case unix.S_IFDIR:
			f.Kind, f.Path = image.FdFile, link
		case unix.S_IFCHR:
			switch {
			case devices[link]:
				f.Kind, f.Path = image.FdDevice, link
			case stdio:
				f.Kind, f.Stdio = image.FdStdio, n
			default:
				return fail("character device")
			}
		case unix.S_IFIFO:
			if !stdio {
				return fail("named pipe")
			}
			f.Kind, f.Stdio = image.FdStdio, n
		default:
			return fail("special file")
		}
	case strings.HasPrefix(link, "socket:") && !(stdio && !listens(pid, n, link)):
		l, ok, err := listener(pid, n, link)
		if err != nil {
			return f, err
		}
		if ok {
			f.Kind, f.Listener = image.FdListener, l
			break
		}
		what, covered := socketCase(pid, n, link)
		f, err = fail(what)
		hint := inheritedHint
		if strings.HasPrefix(what, "unix stream") || strings.HasPrefix(what, "unix seqpacket") {
			hint += cutHint(link)
		}
		return f, fmt.Errorf("%w%s%s", err, covered, hint)
	case strings.HasPrefix(link, "pipe:"), strings.HasPrefix(link, "socket:"):
		if !stdio {
			f, err := fail("pipe whose other end is outside the checkpoint")
			return f, fmt.Errorf("%w%s%s", err, inheritedHint, cutHint(link))
		}
		f.Kind, f.Stdio = image.FdStdio, n
	case link == "anon_inode:[eventfd]":
		f.Kind, f.EventfdCount, f.EventfdSemaphore = image.FdEventfd, info.EventfdCount, info.EventfdSemaphore
	case link == "anon_inode:[eventpoll]":
		f.Kind = image.FdEpoll
		for _, t := range info.Epoll {
			f.Epoll = append(f.Epoll, image.EpollTarget{Fd: t.Fd, Events: t.Events, Data: t.Data})
		}
	case link == "anon_inode:[timerfd]":
		if info.Timerfd == nil {
			return fail("timerfd without its settings in fdinfo")
		}
		t := info.Timerfd
		f.Kind = image.FdTimerfd
		f.Timerfd = &image.Timerfd{Clock: t.Clock, Ticks: t.Ticks, Flags: t.SettimeFlags,
			Interval: image.Timespec{Sec: t.IntervalSec, Nsec: t.IntervalNsec},
			Value:    image.Timespec{Sec: t.ValueSec, Nsec: t.ValueNsec}}
	case link == "anon_inode:inotify":
		return describeInotify(f, pid, n, info.InotifyWatches)
	case link == "anon_inode:[signalfd]":
		f.Kind, f.SignalfdMask = image.FdSignalfd, info.SignalfdMask
	default:
		what := strings.TrimSuffix(strings.TrimPrefix(link, "anon_inode:"), "]")
		return fail(strings.TrimPrefix(what, "["))
	}
	return f, nil
}

// fileBytes is the content of an fd, to go into the image.
type fileBytes struct {
	idx  int
	data []byte
}

// readFileData reads the contents of memfds, deleted files and the small
// files kept, through duplicates obtained with pidfd_getfd or, for an fd
// open only for writing, a new description opened for reading through
// /proc/PID/fd. A small file that cannot be read is not kept: its index
// is in skipped.
func readFileData(pid int, data []fileData) (out []fileBytes, skipped []int, err error) {
	for _, d := range data {
		f, err := kernel.TakeFd(pid, d.fd, fmt.Sprintf("pid %d fd %d", pid, d.fd))
		if err != nil {
			return nil, nil, err
		}
		if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); err == nil && fl&unix.O_ACCMODE == unix.O_WRONLY {
			f.Close()
			if f, err = os.Open(fmt.Sprintf("/proc/%d/fd/%d", pid, d.fd)); err != nil {
				if d.small {
					skipped = append(skipped, d.idx)
					continue
				}
				return nil, nil, fmt.Errorf("pid %d fd %d: contents: %w", pid, d.fd, err)
			}
		}
		var b []byte
		st, err := f.Stat()
		if err == nil && st.Size() > 1<<30 {
			err = fmt.Errorf("%d bytes: too large", st.Size())
		}
		if err == nil {
			b = make([]byte, st.Size())
			_, err = io.ReadFull(io.NewSectionReader(f, 0, st.Size()), b)
		}
		f.Close()
		if err != nil && d.small {
			skipped = append(skipped, d.idx)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("pid %d fd %d: contents: %w", pid, d.fd, err)
		}
		out = append(out, fileBytes{d.idx, b})
	}
	return out, skipped, nil
}
