package restart

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/trace"
)

const (
	none    = ^uint64(0)         // -1 as a syscall argument
	atFdcwd = 0xffffffffffffff9c // AT_FDCWD (-100)

	tfdIocSetTicks = 0x40085400 // TFD_IOC_SET_TICKS
)

// prepareFds closes every fd the new process inherited from us but our
// stdin, stdout and stderr, and those a forked child keeps from its
// parent (keptFds), parks stdio above every fd number of the image, and
// creates the memfds that receive file contents from the image. The
// closes and the parking are queued, for the next call.
//
// Precondition: called on the owner thread.
func (b *builder) prepareFds() error {
	top := b.top
	keep := make([]uint64, 0, len(b.kept)+1)
	for n := range b.kept {
		keep = append(keep, uint64(n))
	}
	if b.pass != nil {
		keep = append(keep, b.passFd) // above top: made by a step before, or inherited
	}
	if b.imgHigh != 0 {
		keep = append(keep, b.imgHigh) // above top: inherited
	}
	slices.Sort(keep)
	// First everything but stdio and what is kept: what cr_restart's
	// caller leaked to us, the restorer's own file, what the parent held
	// that the child does not. The dups below then land at or above top,
	// and the second close leaves nothing else.
	b.closeExcept(3, none>>33, keep)
	for i := range b.stdio {
		b.stdio[i] = 0 // until the batch has run (rebuildFds)
		b.laterResult(&b.stdio[i], 0, fmt.Sprintf("keep stdio %d", i), unix.SYS_FCNTL, uint64(i), unix.F_DUPFD_CLOEXEC, uint64(top))
	}
	b.closeExcept(0, uint64(top-1), keep)
	for n, differs := range b.kept {
		if differs {
			flag := uint64(0)
			if b.fd(n).Flags&unix.O_CLOEXEC != 0 {
				flag = unix.FD_CLOEXEC
			}
			b.later(fmt.Sprintf("fd %d: fcntl(F_SETFD)", n), unix.SYS_FCNTL, uint64(n), unix.F_SETFD, flag)
		}
	}
	// The batch runs with the next call (setMM's, at the latest).
	b.data = map[uint64]*dataFile{}
	for _, f := range b.p.Fds {
		if f.Kind != image.FdMemfd && f.Kind != image.FdDeleted && !(f.Kind == image.FdFile && f.DataIdx > 0) {
			continue
		}
		if b.data[uint64(f.DataIdx)] != nil {
			if f.Kind != image.FdFile {
				return fmt.Errorf("pid %d fd %d: file data %d of two fds: image damaged", b.pid, f.Num, f.DataIdx)
			}
			continue // another fd of one small file kept
		}
		name := f.Path
		if len(name) > 200 {
			name = name[:200]
		}
		if err := b.mem.WriteAt(append([]byte(name), 0), b.scratch+4096); err != nil {
			return err
		}
		low, err := b.call(unix.SYS_MEMFD_CREATE, b.scratch+4096, unix.MFD_CLOEXEC)
		if err != nil {
			return fmt.Errorf("pid %d fd %d: memfd_create: %w", b.pid, f.Num, err)
		}
		// Above the image's fd numbers, so rebuilding them cannot close it.
		fd, err := b.call(unix.SYS_FCNTL, low, unix.F_DUPFD_CLOEXEC, uint64(top+3))
		if err != nil {
			return fmt.Errorf("pid %d fd %d: %w", b.pid, f.Num, err)
		}
		b.laterOK(anyErrno, "close", unix.SYS_CLOSE, low)
		ours, err := kernel.TakeFd(b.pid, int(fd), f.Path)
		if err != nil {
			return err
		}
		b.data[uint64(f.DataIdx)] = &dataFile{fd: fd, f: ours}
	}
	return nil
}

// fd is the image's fd n of the process (nil: none).
func (b *builder) fd(n int) *image.Fd {
	for i := range b.p.Fds {
		if b.p.Fds[i].Num == n {
			return &b.p.Fds[i]
		}
	}
	return nil
}

// closeExcept queues the closes of fds lo to hi (inclusive) but those
// in keep (sorted), one close_range for each run between them.
func (b *builder) closeExcept(lo, hi uint64, keep []uint64) {
	for _, k := range keep {
		if k < lo || k > hi {
			continue
		}
		if k > lo {
			b.later(fmt.Sprintf("close_range %d-%d", lo, k-1), unix.SYS_CLOSE_RANGE, lo, k-1, 0)
		}
		lo = k + 1
	}
	if lo <= hi {
		b.later(fmt.Sprintf("close_range %d-%d", lo, hi), unix.SYS_CLOSE_RANGE, lo, hi, 0)
	}
}

// keptFds says which fds of a forked child's image its fork gave it
// already, as they are: fd N, sharing the open file description of its
// parent's fd N (the same owner, SameAs), which the fork copied. Those
// are neither closed nor made again; only close-on-exec, which is the
// fd's own, is set where it differs from the parent's: the value says
// so. The parent's fds are its image's at the fork (its build closed
// everything else).
func keptFds(parent, child *image.Process) map[int]bool {
	owner := map[int]image.FdRef{} // the parent's fds by number: whose description
	cloexec := map[int]bool{}
	for _, f := range parent.Fds {
		switch {
		case f.Kind == image.FdShared && f.SameAs != nil:
			owner[f.Num] = *f.SameAs
		case f.Kind == image.FdShared, f.Kind == image.FdPipe, f.Kind == image.FdSocket:
			continue // no owner (damaged), or made per end: never an owner
		default:
			owner[f.Num] = image.FdRef{Pid: parent.Pid, Fd: f.Num}
		}
		cloexec[f.Num] = f.Flags&unix.O_CLOEXEC != 0
	}
	kept := map[int]bool{}
	for _, f := range child.Fds {
		if f.Kind != image.FdShared || f.SameAs == nil || f.SameAs.Pid == child.Pid {
			continue
		}
		if o, ok := owner[f.Num]; ok && o == *f.SameAs {
			kept[f.Num] = cloexec[f.Num] != (f.Flags&unix.O_CLOEXEC != 0)
		}
	}
	return kept
}

type dataFile struct {
	fd     uint64 // in the new process
	f      *os.File
	filled bool // its record was read
}

// closeData closes our side of the content files and of the fd-passing
// socket pair.
func (b *builder) closeData() {
	b.closePass()
	b.closeContents()
}

// closeContents closes our side of the content files.
func (b *builder) closeContents() {
	for _, d := range b.data {
		d.f.Close()
	}
	b.data = nil
}

// rebuildFds creates every fd of the image at its number, then the
// watches of each epoll instance, once the fds they watch exist.
//
// Precondition: called on the owner thread.
func (b *builder) rebuildFds() error {
	if b.stdio[0] == 0 { // prepareFds's parking of stdio has not run yet (no fd >= top is 0)
		if err := b.flush(); err != nil {
			return err
		}
	}
	kind := map[int]string{}
	for _, f := range b.p.Fds {
		kind[f.Num] = f.Kind
	}
	// Epoll instances after the other fds; a duplicate of one of our own
	// epoll instances after that.
	passOf := func(f *image.Fd) int {
		switch {
		case f.Kind == image.FdEpoll:
			return 1
		case f.Kind == image.FdShared && f.SameAs != nil && f.SameAs.Pid == b.p.Pid && kind[f.SameAs.Fd] == image.FdEpoll:
			return 2
		}
		return 0
	}
	for pass := 0; pass < 3; pass++ {
		// Files and devices are opened together (openFiles), and fds that
		// share a description with another process received together
		// (receiveShared): each run of either made before the next fd.
		// Dups of fds of this process made before (lower, or of the pass
		// before) join any run, and are made after it.
		var run, dups []*image.Fd
		runKind := runNone
		for i := range b.p.Fds {
			f := &b.p.Fds[i]
			if _, ok := b.kept[f.Num]; ok || passOf(f) != pass {
				continue
			}
			k := runOf(f, b.p.Pid)
			if k == runDups {
				dups = append(dups, f)
				continue
			}
			if k != runKind || (k == runShared && len(run) == scmMaxFd) {
				if err := b.makeRun(runKind, run, dups); err != nil {
					return err
				}
				run, dups, runKind = run[:0], dups[:0], k
			}
			if k != runNone {
				run = append(run, f)
				continue
			}
			f2 := *f
			if err := b.rebuildFd(&f2); err != nil {
				return fmt.Errorf("pid %d fd %d (%s): %w", b.pid, f.Num, strings.TrimSpace(f.Kind+" "+f.Path), err)
			}
		}
		if err := b.makeRun(runKind, run, dups); err != nil {
			return err
		}
	}
	for _, f := range b.p.Fds { // each watch a call, after what is queued
		if f.Kind != image.FdEpoll {
			continue
		}
		if err := b.epollWatches(&f); err != nil {
			return fmt.Errorf("pid %d fd %d (%s): %w", b.pid, f.Num, f.Kind, err)
		}
	}
	for _, fd := range b.stdio {
		b.laterOK(anyErrno, "close", unix.SYS_CLOSE, fd)
	}
	for _, d := range b.data {
		b.laterOK(anyErrno, "close", unix.SYS_CLOSE, d.fd)
	}
	return nil
}

// Runs of fds made together.
const (
	runNone   = iota // made one by one (rebuildFd)
	runOpens         // files and devices, opened by openFiles
	runShared        // descriptions shared with another process, received by receiveShared
	runDups          // dups of an fd of this process, made after any run
)

// scmMaxFd is the most fds one message may carry (SCM_MAX_FD).
const scmMaxFd = 253

// runOf says which run f of process pid belongs to.
func runOf(f *image.Fd, pid int) int {
	switch {
	case f.Kind == image.FdFile || f.Kind == image.FdDevice:
		return runOpens
	case f.Kind == image.FdShared && f.SameAs != nil && f.SameAs.Pid != pid:
		return runShared
	case f.Kind == image.FdShared && f.SameAs != nil:
		return runDups
	}
	return runNone
}

// makeRun makes the fds of a run of kind k, then the dups that came
// with it (queued dup3 calls).
//
// Precondition: called on the owner thread.
func (b *builder) makeRun(k int, fs, dups []*image.Fd) error {
	var err error
	switch {
	case len(fs) == 0:
	case k == runOpens:
		err = b.openFiles(fs)
	case k == runShared:
		err = b.receiveShared(fs)
	}
	for _, f := range dups {
		if err == nil {
			err = b.sameAs(f)
		}
	}
	return err
}

// receiveShared gives the process the open file descriptions that the fds
// fs (at most scmMaxFd) share with fds of processes restored before: the
// duplicates we take of those (pidfd_getfd) go in one message over the
// fd-passing socket pair, received by one remote recvmsg, where each was
// a remote call of its own.
//
// Precondition: called on the owner thread.
func (b *builder) receiveShared(fs []*image.Fd) error {
	files := make([]*os.File, 0, len(fs))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, f := range fs {
		file, err := kernel.TakeFd(b.pids.of(f.SameAs.Pid), f.SameAs.Fd, "shared")
		if err != nil {
			return fmt.Errorf("pid %d %s: %w", b.pid, fdWhat(f), err)
		}
		files = append(files, file)
	}
	got, err := b.receiveFds(files)
	if err != nil {
		return fmt.Errorf("pid %d fds %d to %d (shared): %w", b.pid, fs[0].Num, fs[len(fs)-1].Num, err)
	}
	return b.place(fs, got, true)
}

// openFiles opens the files and devices fs (in rebuilding order, one after
// another in it) with their openat calls queued together, one batch for
// hundreds where each was a remote call, then moves each to its number
// and sets its offset. Each lands on the lowest free fd; with nothing
// else made between them, fs's land in ascending order, each at or below
// its own number (free until then), and moving them in descending order
// overwrites none still to be moved (where one lands above, all are moved
// above the image's numbers first).
//
// Precondition: called on the owner thread.
func (b *builder) openFiles(fs []*image.Fd) error {
	if len(fs) == 0 {
		return nil
	}
	got := make([]uint64, len(fs))
	for i, f := range fs {
		if len(f.Path) >= 4000 {
			return fmt.Errorf("pid %d %s: path too long", b.pid, fdWhat(f))
		}
		path := b.laterData(append([]byte(f.Path), 0))
		gone := uint32(0) // a file whose contents the image kept may be gone: made again below
		if f.DataIdx > 0 {
			gone = uint32(unix.ENOENT)
		}
		b.laterResult(&got[i], gone, fdWhat(f)+": openat", unix.SYS_OPENAT, atFdcwd, path, openFlags(f), 0)
	}
	if err := b.flush(); err != nil {
		return err
	}
	remade := map[int]bool{} // by data index
	for i, f := range fs {
		if f.DataIdx == 0 || int64(got[i]) != -int64(unix.ENOENT) {
			continue
		}
		if !remade[f.DataIdx] {
			if err := b.remake(f); err != nil {
				return fmt.Errorf("pid %d %s: %w", b.pid, fdWhat(f), err)
			}
			remade[f.DataIdx] = true
		}
		fd, err := b.open(f.Path, openFlags(f))
		if err != nil {
			return fmt.Errorf("pid %d %s: %w", b.pid, fdWhat(f), err)
		}
		got[i] = fd
	}
	return b.place(fs, got, false)
}

// openFlags are the flags that f is opened again with.
func openFlags(f *image.Fd) uint64 {
	return uint64(f.Flags) &^ uint64(unix.O_CREAT|unix.O_TRUNC|unix.O_EXCL|unix.O_NOCTTY)
}

// place moves the fds got, just made in the process for fs (one each, in
// order), to fs's numbers with fs's close-on-exec (all of got have it
// where allCloexec), and sets the offsets of regular files. Each of got
// landed on the lowest free fd with nothing made between them, so they
// are in ascending order, each at or below its own number (free until
// then), and moving them in descending order overwrites none still to be
// moved; where that does not hold, all are moved above the image's
// numbers first.
//
// Precondition: called on the owner thread.
func (b *builder) place(fs []*image.Fd, got []uint64, allCloexec bool) error {
	below := true
	for i, f := range fs {
		below = below && got[i] <= uint64(f.Num) && (i == 0 || got[i] > got[i-1])
	}
	if !below {
		trace.Count("fd runs moved above the image's numbers", 1)
		for i, f := range fs {
			if got[i] == uint64(f.Num) {
				continue
			}
			high, err := b.call(unix.SYS_FCNTL, got[i], unix.F_DUPFD_CLOEXEC, uint64(b.top))
			if err != nil {
				return fmt.Errorf("pid %d %s: fcntl(F_DUPFD_CLOEXEC): %w", b.pid, fdWhat(f), err)
			}
			b.laterOK(anyErrno, "close", unix.SYS_CLOSE, got[i])
			got[i] = high
		}
	}
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		cloexec := f.Flags&unix.O_CLOEXEC != 0
		switch {
		case got[i] != uint64(f.Num):
			b.later(fdWhat(f)+": dup3", unix.SYS_DUP3, got[i], uint64(f.Num), uint64(f.Flags&unix.O_CLOEXEC))
			b.laterOK(anyErrno, "close", unix.SYS_CLOSE, got[i])
		case allCloexec && !cloexec:
			b.later(fdWhat(f)+": fcntl(F_SETFD)", unix.SYS_FCNTL, got[i], unix.F_SETFD, 0)
		}
		if f.Kind == image.FdFile && f.Mode&unix.S_IFMT == unix.S_IFREG {
			b.later(fdWhat(f)+": lseek", unix.SYS_LSEEK, uint64(f.Num), uint64(f.Pos), unix.SEEK_SET)
		}
	}
	return nil
}

// fdWhat names f in an error.
func fdWhat(f *image.Fd) string {
	return fmt.Sprintf("fd %d (%s)", f.Num, strings.TrimSpace(f.Kind+" "+f.Path))
}

func (b *builder) rebuildFd(f *image.Fd) error {
	cloexec := uint64(f.Flags & unix.O_CLOEXEC)
	var fd uint64
	var err error
	what := fmt.Sprintf("fd %d (%s)", f.Num, strings.TrimSpace(f.Kind+" "+f.Path))
	ownDup := f.Kind == image.FdShared && f.SameAs != nil && f.SameAs.Pid == b.p.Pid
	if f.Kind != image.FdFile && f.Kind != image.FdDevice && f.Kind != image.FdStdio && !ownDup {
		// The others may look at the process's fds from here (pidfd_getfd,
		// /proc): everything queued first.
		if err := b.flush(); err != nil {
			return err
		}
	}
	switch f.Kind {
	case image.FdFile, image.FdDevice:
		return b.openFiles([]*image.Fd{f})
	case image.FdAgent:
		return b.agentConn(f)
	case image.FdPipe:
		return b.pipeEnd(f)
	case image.FdSocket:
		return b.socketEnd(f)
	case image.FdPty:
		return b.ptyEnd(f)
	case image.FdShared:
		return b.sameAs(f)
	case image.FdStdio:
		if f.Stdio < 0 || f.Stdio > 2 {
			return fmt.Errorf("stdio %d: image damaged", f.Stdio)
		}
		b.later(what+": dup3", unix.SYS_DUP3, b.stdio[f.Stdio], uint64(f.Num), cloexec)
		return nil
	case image.FdMemfd, image.FdDeleted:
		d := b.data[uint64(f.DataIdx)]
		if d == nil || !d.filled {
			return fmt.Errorf("contents missing from the image")
		}
		fd = d.fd
		if _, err = b.call(unix.SYS_FCNTL, fd, unix.F_SETFL, uint64(f.Flags)); err == nil {
			_, err = b.call(unix.SYS_DUP3, fd, uint64(f.Num), cloexec)
		}
		if err == nil {
			_, err = b.call(unix.SYS_LSEEK, uint64(f.Num), uint64(f.Pos), unix.SEEK_SET)
		}
		return err
	case image.FdEventfd:
		fd, err = b.call(unix.SYS_EVENTFD2, 0, uint64(f.Flags)&(unix.EFD_CLOEXEC|unix.EFD_NONBLOCK|unix.EFD_SEMAPHORE))
		if err == nil && f.EventfdCount > 0 {
			v := make([]byte, 8)
			le.PutUint64(v, f.EventfdCount)
			if err = b.mem.WriteAt(v, b.scratch); err == nil {
				_, err = b.call(unix.SYS_WRITE, fd, b.scratch, 8)
			}
		}
	case image.FdListener:
		fd, err = b.listener(f)
	case image.FdTCP:
		fd, err = b.tcpConn(f)
	case image.FdMqueue:
		fd, err = b.mqueue(f)
	case image.FdInotify:
		fd, err = b.inotify(f)
	case image.FdEpoll:
		fd, err = b.call(unix.SYS_EPOLL_CREATE1, uint64(f.Flags)&unix.EPOLL_CLOEXEC)
	case image.FdTimerfd:
		fd, err = b.timerfd(f)
	case image.FdSignalfd:
		v := make([]byte, 8)
		le.PutUint64(v, f.SignalfdMask)
		if err = b.mem.WriteAt(v, b.scratch); err == nil {
			fd, err = b.call(unix.SYS_SIGNALFD4, none, b.scratch, 8, uint64(f.Flags)&(unix.SFD_CLOEXEC|unix.SFD_NONBLOCK))
		}
	default:
		return fmt.Errorf("unknown kind: image damaged")
	}
	if err != nil {
		return err
	}
	if fd != uint64(f.Num) {
		b.later(what+": dup3", unix.SYS_DUP3, fd, uint64(f.Num), cloexec)
		b.laterOK(anyErrno, "close", unix.SYS_CLOSE, fd)
	}
	return nil
}

// epollWatches adds the watches of the epoll instance f, once every fd of
// the process exists: an epoll may watch any of them, another epoll with
// a higher number included.
//
// Precondition: called on the owner thread.
func (b *builder) epollWatches(f *image.Fd) error {
	for _, t := range f.Epoll {
		ev := make([]byte, 12) // struct epoll_event is packed on x86-64
		le.PutUint32(ev, t.Events)
		le.PutUint64(ev[4:], t.Data)
		if err := b.mem.WriteAt(ev, b.scratch); err != nil {
			return err
		}
		if _, err := b.call(unix.SYS_EPOLL_CTL, uint64(f.Num), unix.EPOLL_CTL_ADD, uint64(t.Fd), b.scratch); err != nil {
			return fmt.Errorf("watch fd %d: %w", t.Fd, err)
		}
	}
	return nil
}

func (b *builder) timerfd(f *image.Fd) (uint64, error) {
	t := f.Timerfd
	if t == nil {
		return 0, fmt.Errorf("timerfd settings missing: image damaged")
	}
	fd, err := b.call(unix.SYS_TIMERFD_CREATE, uint64(t.Clock), uint64(f.Flags)&(unix.TFD_CLOEXEC|unix.TFD_NONBLOCK))
	if err != nil {
		return 0, err
	}
	value := t.Value
	if value == (image.Timespec{}) {
		// A periodic timer that fired with nobody reading shows no time
		// left in fdinfo, only ticks: its next expiry is a period away.
		value = t.Interval
	}
	if value != (image.Timespec{}) {
		spec := make([]byte, 32)
		for i, v := range []int64{t.Interval.Sec, t.Interval.Nsec, value.Sec, value.Nsec} {
			le.PutUint64(spec[8*i:], uint64(v))
		}
		if err := b.mem.WriteAt(spec, b.scratch); err != nil {
			return 0, err
		}
		if _, err := b.call(unix.SYS_TIMERFD_SETTIME, fd, 0, b.scratch, 0); err != nil {
			return 0, fmt.Errorf("timerfd_settime: %w", err)
		}
	}
	if t.Ticks > 0 {
		v := make([]byte, 8)
		le.PutUint64(v, t.Ticks)
		if err := b.mem.WriteAt(v, b.scratch); err != nil {
			return 0, err
		}
		if _, err := b.call(unix.SYS_IOCTL, fd, tfdIocSetTicks, b.scratch); err != nil {
			return 0, fmt.Errorf("timerfd ticks: %w", err)
		}
	}
	return fd, nil
}

// remake creates the regular file f names, which is gone, with the
// contents and permissions the image kept, as the restored process (so
// only where it may create it), never over a file that exists; and says
// so on our standard error.
//
// Precondition: called on the owner thread.
func (b *builder) remake(f *image.Fd) error {
	d := b.data[uint64(f.DataIdx)]
	if d == nil || !d.filled {
		return fmt.Errorf("%s is gone, and its contents are missing from the image", f.Path)
	}
	fd, err := b.open(f.Path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint64(f.Mode&0o7777))
	if err != nil {
		return fmt.Errorf("%s is gone; making it again: %w", f.Path, err)
	}
	defer b.call(unix.SYS_CLOSE, fd)
	if err := b.mem.WriteAt(make([]byte, 8), b.scratch); err != nil { // the offset in the memfd: 0
		return err
	}
	for left := f.Size; left > 0; {
		n, err := b.call(unix.SYS_SENDFILE, fd, d.fd, b.scratch, uint64(left))
		if err != nil {
			return fmt.Errorf("%s is gone; filling it again: %w", f.Path, err)
		}
		if n == 0 {
			return fmt.Errorf("%s is gone; filling it again: %d bytes short", f.Path, left)
		}
		left -= int64(n)
	}
	fmt.Fprintf(os.Stderr, "cr_restart: pid %d fd %d: %s was gone; made again from the image (%d bytes)\n", b.pid, f.Num, f.Path, f.Size)
	return nil
}
