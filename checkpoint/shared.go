package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/proc"
)

// An openFd is one fd of a process of the set, as /proc shows it.
type openFd struct {
	pid, fd int
	link    string
	flags   int
	fifo    uint64 // a named pipe's inode (0: not one)
	// info and st are its fdinfo and, for a path, the file's status, which
	// describeFd uses rather than reading them again.
	info *proc.FdInfo
	st   *unix.Stat_t
}

// pipeKey names the pipe an fd is an end of ("" if none): its link for an
// anonymous pipe, its inode for a FIFO.
func (o openFd) pipeKey() string {
	switch {
	case strings.HasPrefix(o.link, "pipe:"):
		return o.link
	case o.fifo != 0:
		return "fifo:" + strconv.FormatUint(o.fifo, 10)
	}
	return ""
}

// links reads every fd of every process of the set, and keeps what it
// read for each process to describe its fds with (Frozen.seen).
func (s *Set) links() ([]openFd, error) {
	var out []openFd
	for _, f := range s.procs {
		if f.zombie {
			continue
		}
		nums, err := proc.Fds(f.pid)
		if err != nil {
			return nil, err
		}
		f.seen = make(map[int]openFd, len(nums))
		for _, n := range nums {
			link, err := proc.FdLink(f.pid, n)
			if err != nil {
				return nil, err
			}
			info, err := proc.ReadFdInfo(f.pid, n)
			if err != nil {
				return nil, err
			}
			o := openFd{pid: f.pid, fd: n, link: link, flags: info.Flags, info: info}
			var st unix.Stat_t
			if strings.HasPrefix(link, "/") && unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", f.pid, n), &st) == nil {
				o.st = &st
				if st.Mode&unix.S_IFMT == unix.S_IFIFO {
					o.fifo = st.Ino
				}
			}
			out = append(out, o)
			f.seen[n] = o
		}
	}
	return out, nil
}

// shared describes, for each process, the fds that tie it to the others:
// ends of pipes inside the set, and open file descriptions it shares
// with a process earlier in the set (found with kcmp).
func (s *Set) shared() (map[int]map[int]image.Fd, error) {
	all, err := s.links()
	if err != nil {
		return nil, err
	}
	cut := len(s.procs) > 0 && s.procs[0].opt.CutPipes
	out := map[int]map[int]image.Fd{}
	set := func(o openFd, f image.Fd) {
		if out[o.pid] == nil {
			out[o.pid] = map[int]image.Fd{}
		}
		f.Num, f.Flags = o.fd, o.flags
		out[o.pid][o.fd] = f
	}
	// Pipes and FIFOs: inside the set when both ends are (an fd open for
	// reading and writing on a FIFO is both), or when a pipe's other end is
	// held by no process at all.
	ends := map[string][2]bool{}
	for _, o := range all {
		if k := o.pipeKey(); k != "" {
			e := ends[k]
			e[writeEnd(o.flags)] = true
			if o.flags&unix.O_ACCMODE == unix.O_RDWR {
				e[0], e[1] = true, true
			}
			ends[k] = e
		}
	}
	seen := map[string]bool{}
	for _, o := range all {
		k := o.pipeKey()
		if k == "" {
			continue
		}
		widowed, outside := false, false
		if !(ends[k][0] && ends[k][1]) {
			if o.fifo != 0 {
				continue // another process may open it yet
			}
			if widowed, err = pipeWidowed(o); err != nil {
				return nil, err
			}
			// Its other end is outside: cut, or refused by describeFd
			// (a standard stream is given the restart's own).
			outside = !widowed && cut && o.fd > 2
			widowed = widowed || outside
			if !widowed {
				continue
			}
		}
		p := &image.Pipe{Write: writeEnd(o.flags) == 1, Widowed: widowed, Outside: outside}
		if o.fifo != 0 {
			p.Ino, p.Path, p.ReadWrite = o.fifo, o.link, o.flags&unix.O_ACCMODE == unix.O_RDWR
		} else {
			p.Ino, _ = linkIno(o.link, "pipe")
		}
		if !seen[k] && !(widowed && p.Write) { // bytes nobody can read are not kept
			seen[k] = true
			if p.Size, p.Data, err = pipeContents(all, k); err != nil {
				return nil, err
			}
		}
		set(o, image.Fd{Kind: image.FdPipe, Pipe: p})
	}
	// Connected unix socket pairs: inside the set when both ends are.
	live := map[int]bool{}
	for _, f := range s.procs {
		live[f.pid] = !f.zombie
	}
	if err := socketPairs(all, live, set, cut); err != nil {
		return nil, err
	}
	// TCP connections between processes of the set, and to peers
	// outside it with --tcp-established or --tcp-close.
	if err := s.tcpConns(all, set); err != nil {
		return nil, err
	}
	// Pseudo-terminals whose master is in the set.
	if err := ptyPairs(all, set); err != nil {
		return nil, err
	}
	// Shared descriptions of anything else: the first holder in the set
	// owns it, later ones refer to it.
	var rest []openFd
	for _, o := range all {
		if k := out[o.pid][o.fd].Kind; k != image.FdPipe && k != image.FdSocket {
			rest = append(rest, o)
		}
	}
	for _, g := range descriptions(rest) {
		w := g[0]
		for _, o := range g[1:] {
			set(o, image.Fd{Kind: image.FdShared, SameAs: &image.FdRef{Pid: w.pid, Fd: w.fd}})
		}
	}
	return out, nil
}

func writeEnd(flags int) int {
	if flags&unix.O_ACCMODE == unix.O_WRONLY {
		return 1
	}
	return 0
}

// pipeWidowed says whether the pipe end o is the only kind held anywhere:
// the kernel reports POLLHUP on a read end with no writer left, POLLERR on
// a write end with no reader.
func pipeWidowed(o openFd) (bool, error) {
	dup, err := kernel.TakeFd(o.pid, o.fd, o.link)
	if err != nil {
		return false, err
	}
	defer dup.Close()
	fds := []unix.PollFd{{Fd: int32(dup.Fd()), Events: unix.POLLIN}}
	want := int16(unix.POLLHUP)
	if writeEnd(o.flags) == 1 {
		fds[0].Events, want = unix.POLLOUT, unix.POLLERR
	}
	if _, err := unix.Poll(fds, 0); err != nil {
		return false, fmt.Errorf("pid %d fd %d (%s): poll: %w", o.pid, o.fd, o.link, err)
	}
	return fds[0].Revents&want != 0, nil
}

// pipeContents reads what waits in the pipe link without taking it: a
// duplicate of its read end (pidfd_getfd) is tee'd into a pipe of ours.
func pipeContents(all []openFd, key string) (int, []byte, error) {
	var rd openFd
	for _, o := range all {
		if o.pipeKey() == key && writeEnd(o.flags) == 0 {
			rd = o
			break
		}
	}
	dup, err := kernel.TakeFd(rd.pid, rd.fd, rd.link)
	if err != nil {
		return 0, nil, err
	}
	defer dup.Close()
	fd := int(dup.Fd())
	size, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("pid %d fd %d: F_GETPIPE_SZ: %w", rd.pid, rd.fd, err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return 0, nil, os.NewSyscallError("pipe2", err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if _, err := unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, size); err != nil {
		return 0, nil, fmt.Errorf("pipe of %d bytes: %w", size, err)
	}
	n, err := unix.Tee(fd, p[1], size, unix.SPLICE_F_NONBLOCK)
	if errors.Is(err, unix.EAGAIN) {
		return size, nil, nil // empty
	}
	if err != nil {
		return 0, nil, fmt.Errorf("pid %d fd %d: tee: %w", rd.pid, rd.fd, err)
	}
	data := make([]byte, n)
	for got := 0; got < int(n); {
		m, err := unix.Read(p[0], data[got:])
		if err != nil {
			return 0, nil, os.NewSyscallError("read", err)
		}
		got += m
	}
	return size, data, nil
}
