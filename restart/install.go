package restart

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
)

// openPass makes the socket pair that receiveFd passes fds over, its
// receiving end in the process above every fd number of the image. It
// lasts until closePass, at the end of the step of build or finish that
// made it (prepareFds closes what it finds).
//
// Precondition: called on the owner thread.
func (b *builder) openPass() error {
	if _, err := b.call(unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0, b.scratch); err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	v := make([]byte, 8)
	if err := b.mem.ReadAt(v, b.scratch); err != nil {
		return err
	}
	low, ours := le.Uint32(v), le.Uint32(v[4:])
	our, err := b.grab(uint64(ours), "fd passing")
	if err != nil {
		b.laterOK(anyErrno, "close", unix.SYS_CLOSE, uint64(low))
		return err
	}
	// Keep the receiving end clear of the image's fd numbers.
	theirs, err := b.call(unix.SYS_FCNTL, uint64(low), unix.F_DUPFD_CLOEXEC, uint64(b.top))
	b.laterOK(anyErrno, "close", unix.SYS_CLOSE, uint64(low))
	if err != nil {
		our.Close()
		return fmt.Errorf("fcntl(F_DUPFD_CLOEXEC): %w", err)
	}
	b.pass, b.passFd = our, theirs
	return nil
}

// closePass closes the socket pair of receiveFd, if one is open.
func (b *builder) closePass() {
	if b.pass != nil {
		b.pass.Close()
		b.laterOK(anyErrno, "close", unix.SYS_CLOSE, b.passFd)
		b.pass = nil
	}
}

// installFd gives the process the open file description f at fd number
// num.
//
// Precondition: called on the owner thread.
func (b *builder) installFd(f *os.File, num int, cloexec bool) error {
	got, err := b.receiveFd(f)
	if err != nil {
		return err
	}
	flag := uint64(0)
	if cloexec {
		flag = unix.O_CLOEXEC
	}
	if got == uint64(num) {
		if !cloexec {
			b.later(fmt.Sprintf("fd %d: fcntl(F_SETFD)", num), unix.SYS_FCNTL, got, unix.F_SETFD, 0)
		}
		return nil
	}
	b.later(fmt.Sprintf("fd %d: dup3", num), unix.SYS_DUP3, got, uint64(num), flag)
	b.laterOK(anyErrno, "close", unix.SYS_CLOSE, got)
	return nil
}

// receiveFd gives the process the open file description f, close-on-exec,
// at the lowest free fd number, and returns that number.
//
// Precondition: called on the owner thread.
func (b *builder) receiveFd(f *os.File) (uint64, error) {
	got, err := b.receiveFds([]*os.File{f})
	if err != nil {
		return 0, err
	}
	return got[0], nil
}

// receiveFds gives the process the open file descriptions fs (at most
// scmMaxFd), close-on-exec, each at the lowest free fd number then, and
// returns those numbers: we send them in one message over a socket pair
// made in the process, which receives it with a remote recvmsg.
//
// Precondition: called on the owner thread.
func (b *builder) receiveFds(fs []*os.File) ([]uint64, error) {
	if len(fs) == 0 || len(fs) > scmMaxFd {
		return nil, fmt.Errorf("%d fds in one message: 1 to %d", len(fs), scmMaxFd)
	}
	if b.pass == nil {
		if err := b.openPass(); err != nil {
			return nil, err
		}
	}
	our, theirs := b.pass, b.passFd
	nums := make([]int, len(fs))
	for i, f := range fs {
		nums[i] = int(f.Fd())
	}
	if err := unix.Sendmsg(int(our.Fd()), []byte{0}, unix.UnixRights(nums...), nil, 0); err != nil {
		return nil, fmt.Errorf("sendmsg: %w", err)
	}
	// struct msghdr at scratch, its iovec at +64, the byte at +96, the
	// control buffer at +128.
	const ctl = 128
	space := unix.CmsgSpace(4 * len(fs))
	msg := make([]byte, ctl)
	le.PutUint64(msg[16:], b.scratch+64)  // msg_iov
	le.PutUint64(msg[24:], 1)             // msg_iovlen
	le.PutUint64(msg[32:], b.scratch+ctl) // msg_control
	le.PutUint64(msg[40:], uint64(space))
	le.PutUint64(msg[64:], b.scratch+96) // iov_base
	le.PutUint64(msg[72:], 1)            // iov_len
	if err := b.mem.WriteAt(append(msg, make([]byte, space)...), b.scratch); err != nil {
		return nil, err
	}
	if _, err := b.call(unix.SYS_RECVMSG, theirs, b.scratch, unix.MSG_CMSG_CLOEXEC); err != nil {
		return nil, fmt.Errorf("recvmsg: %w", err)
	}
	cm := make([]byte, unix.CmsgLen(4*len(fs)))
	if err := b.mem.ReadAt(cm, b.scratch+ctl); err != nil {
		return nil, err
	}
	if int32(le.Uint32(cm[8:])) != unix.SOL_SOCKET || int32(le.Uint32(cm[12:])) != unix.SCM_RIGHTS {
		return nil, fmt.Errorf("recvmsg: no fd came")
	}
	if n := (int(le.Uint64(cm)) - unix.CmsgLen(0)) / 4; n != len(fs) {
		return nil, fmt.Errorf("recvmsg: %d fds came of %d sent", n, len(fs))
	}
	got := make([]uint64, len(fs))
	for i := range got {
		got[i] = uint64(le.Uint32(cm[unix.CmsgLen(0)+4*i:]))
	}
	return got, nil
}

// shmFd gives the process the shared memory object that v maps (made by
// us once per object, grown to cover v), and returns its fd there.
//
// Precondition: called on the owner thread.
func (b *builder) shmFd(v *image.VMA) (uint64, error) {
	key := fmt.Sprintf("%s:%d", v.Dev, v.Inode)
	f := b.shared.shm[key]
	if f == nil {
		fd, err := unix.MemfdCreate("stasis-shm", unix.MFD_CLOEXEC)
		if err != nil {
			return 0, os.NewSyscallError("memfd_create", err)
		}
		f = os.NewFile(uintptr(fd), "shared memory "+key)
		b.shared.shm[key] = f
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if end := int64(v.Offset + v.End - v.Start); end > st.Size() {
		if err := f.Truncate(end); err != nil {
			return 0, err
		}
	}
	return b.receiveFd(f)
}

// shared is what the builders of one restore share: the pipes between
// their processes, made here and handed to each.
type shared struct {
	pipes map[uint64]*[2]*os.File // by inode at checkpoint: read end, write end
	shm   map[string]*os.File     // shared memory objects, by device:inode at checkpoint
	socks map[uint64]*os.File     // ends of socket pairs, by inode at checkpoint
	shut  map[uint64]int          // their shutdown bits, applied once every queue is filled
	fills []queueFill             // their queues, filled once every process has its fds (unixqueue.go)
	sysv  map[int]*image.SysvShm  // System V segments made or found, by id
	ipc   map[string]bool         // System V sets and queues made or found: "sem 3", "msg 4"
	made  []int                   // the segments made here, removed if the restore fails
	saved savedFiles              // the saved files read so far (savedfiles.go)
	tcp   []repairing             // the TCP connections made, in repair mode until all are (tcp.go)
	locks map[string]netLock      // the checkpoints' nftables tables, removed once they are (tcp.go)
	// resets are connections to peers outside restored reset, whose
	// peers are to hear of it (tcpreset.go).
	resets []outsideReset
	ptys   map[uint64]*madePty // the ptys made, by their slave's device at checkpoint (pty.go)
	used   map[string]bool     // the --inherit-fd keys given to a process (outside.go)
	cut    []string            // the keys of the ends the checkpoint cut, for an --inherit-fd that names none
	mq     map[string]bool     // POSIX message queues made or found, by name (mqueue.go)
	dgram  []dgramEnd          // datagram sockets to connect to bound ones once every process is made (dgram.go)
	// abstract are the listeners made again on abstract names, by name
	// ("@..."), which the connections they accepted are made from
	// (unixnamed.go).
	abstract map[string]*os.File
	buf      []byte // copyBuf's
}

// copyBuf is the buffer that page data copied through cr_restart passes
// through: one for the whole restore, made on first use (a lazy restart
// copies little or nothing).
func (s *shared) copyBuf() []byte {
	if s.buf == nil {
		s.buf = make([]byte, 4<<20)
	}
	return s.buf
}

// shutdown applies the socket pairs' recorded shutdowns, once their queues
// are refilled.
func (s *shared) shutdown() error {
	for ino, bits := range s.shut {
		how := -1
		switch {
		case bits&3 == 3:
			how = unix.SHUT_RDWR
		case bits&2 != 0:
			how = unix.SHUT_WR
		case bits&1 != 0:
			how = unix.SHUT_RD
		}
		if how >= 0 {
			if err := unix.Shutdown(int(s.socks[ino].Fd()), how); err != nil {
				return fmt.Errorf("socket %d: shutdown: %w", ino, err)
			}
		}
	}
	return nil
}

func (s *shared) close() {
	s.saved.close()
	for _, q := range s.fills {
		if q.own {
			q.peer.Close()
		}
	}
	for _, f := range s.socks {
		f.Close()
	}
	for _, f := range s.shm {
		f.Close()
	}
	for _, m := range s.ptys {
		m.close()
	}
	for _, p := range s.pipes {
		p[0].Close()
		p[1].Close()
	}
	for _, f := range s.abstract {
		f.Close()
	}
	// Still in repair mode, so closing them sends nothing.
	for _, c := range s.tcp {
		c.f.Close()
	}
}

// pipeEnd installs an end of a pipe of the image; the first fd of each
// pipe creates it, with its size, its flags and the bytes waiting in it.
//
// Precondition: called on the owner thread.
func (b *builder) pipeEnd(f *image.Fd) error {
	if f.Pipe == nil {
		return fmt.Errorf("pipe without its description: image damaged")
	}
	if f.Pipe.Outside {
		if ok, err := b.outsidePipe(f); ok || err != nil {
			return err
		}
	}
	p := b.shared.pipes[f.Pipe.Ino]
	if p == nil {
		var fds [2]int
		if f.Pipe.Path != "" {
			// A FIFO: its ends are opened by path, without waiting for
			// each other.
			var err error
			if fds[0], err = unix.Open(f.Pipe.Path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
				return &os.PathError{Op: "open", Path: f.Pipe.Path, Err: err}
			}
			if fds[1], err = unix.Open(f.Pipe.Path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
				unix.Close(fds[0])
				return &os.PathError{Op: "open", Path: f.Pipe.Path, Err: err}
			}
		} else if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
			return os.NewSyscallError("pipe2", err)
		}
		p = &[2]*os.File{os.NewFile(uintptr(fds[0]), "pipe"), os.NewFile(uintptr(fds[1]), "pipe")}
		b.shared.pipes[f.Pipe.Ino] = p
		if f.Pipe.Size > 0 {
			if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, f.Pipe.Size); err != nil {
				return fmt.Errorf("pipe of %d bytes: %w", f.Pipe.Size, err)
			}
		}
		if len(f.Pipe.Data) > 0 {
			if _, err := unix.Write(fds[1], f.Pipe.Data); err != nil {
				return fmt.Errorf("refill pipe: %w", err)
			}
		}
		if f.Pipe.Widowed { // the other end was held by nobody: so again
			other := &p[0]
			if !f.Pipe.Write {
				other = &p[1]
			}
			(*other).Close()
			*other = nil
		}
	}
	end := p[0]
	if f.Pipe.Write {
		end = p[1]
	}
	if end == nil {
		return fmt.Errorf("pipe %d: both ends of a widowed pipe: image damaged", f.Pipe.Ino)
	}
	if f.Pipe.ReadWrite {
		fd, err := unix.Open(f.Pipe.Path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: f.Pipe.Path, Err: err}
		}
		end = os.NewFile(uintptr(fd), f.Pipe.Path)
		defer end.Close()
	}
	return b.installEnd(end, f, unix.O_NONBLOCK|unix.O_APPEND)
}

// installEnd gives the process end, one end of a pipe or socket pair we
// made, at f's number, with f's status flags among mask (set on the open
// file description, which every fd of that end shares).
//
// Precondition: called on the owner thread.
func (b *builder) installEnd(end *os.File, f *image.Fd, mask int) error {
	if _, err := unix.FcntlInt(end.Fd(), unix.F_SETFL, f.Flags&mask); err != nil {
		return fmt.Errorf("fcntl(F_SETFL): %w", err)
	}
	return b.installFd(end, f.Num, f.Flags&unix.O_CLOEXEC != 0)
}

// socketEnd installs an end of a socket pair of the image; the first fd of
// either end creates the pair, and the first fd of each end has what
// waited to be read from it sent again from its peer, once every process
// of the image has its fds (fillQueues).
//
// Precondition: called on the owner thread.
func (b *builder) socketEnd(f *image.Fd) error {
	sk := f.Socket
	if sk == nil {
		return fmt.Errorf("socket without its description: image damaged")
	}
	if sk.Outside || sk.Connect != "" {
		return b.outsideSocket(f)
	}
	s := b.shared
	if s.socks[sk.Ino] == nil {
		if s.socks[sk.Peer] != nil {
			return fmt.Errorf("socket %d: its peer %d is paired elsewhere: image damaged", sk.Ino, sk.Peer)
		}
		var ea, eb *os.File
		var err error
		if sk.Type != unix.SOCK_DGRAM && (sk.Name != "" || sk.PeerName != "") {
			ea, eb, err = namedPair(sk.Type, sk.Name, sk.PeerName, s.abstract)
		} else {
			ea, eb, err = boundPair(sk.Type, sk.Name, sk.PeerName)
		}
		if err != nil {
			return err
		}
		s.socks[sk.Ino], s.socks[sk.Peer] = ea, eb
		if err := setOpts(int(s.socks[sk.Ino].Fd()), sk.Opts); err != nil {
			return err
		}
		if err := setOpts(int(s.socks[sk.Peer].Fd()), sk.PeerOpts); err != nil {
			return err
		}
	}
	if _, done := s.shut[sk.Ino]; !done {
		s.shut[sk.Ino] = sk.Shutdown
		if len(sk.Queue) > 0 {
			s.fills = append(s.fills, queueFill{who: fmt.Sprintf("pid %d fd %d", b.p.Pid, f.Num), peer: s.socks[sk.Peer], sk: sk})
		}
	}
	return b.installEnd(s.socks[sk.Ino], f, unix.O_NONBLOCK)
}

// sameAs installs the open file description of another fd of the image,
// already rebuilt in its (restored) process.
//
// Precondition: called on the owner thread.
func (b *builder) sameAs(f *image.Fd) error {
	ref := f.SameAs
	if ref == nil {
		return fmt.Errorf("shared fd without its owner: image damaged")
	}
	if ref.Pid == b.p.Pid {
		// The owner is an fd of this process made before (lower, or an
		// epoll instance of the pass before): a dup3 queued after it.
		if ref.Fd == f.Num {
			return fmt.Errorf("fd shared with itself: image damaged")
		}
		b.later(fdWhat(f)+": dup3", unix.SYS_DUP3, uint64(ref.Fd), uint64(f.Num), uint64(f.Flags&unix.O_CLOEXEC))
		return nil
	}
	file, err := kernel.TakeFd(b.pids.of(ref.Pid), ref.Fd, "shared")
	if err != nil {
		return err
	}
	defer file.Close()
	return b.installFd(file, f.Num, f.Flags&unix.O_CLOEXEC != 0)
}

// inheritFds takes over, in a child just forked from its restored
// parent, the parent's end of the fd-passing socket pair and its copy of
// the image's fd, where they lie above every fd number of the child's
// image (so that rebuilding its fds cannot close them): the fork gave the
// child both, and passing them again would cost three stops. Our end of
// the pair is duplicated, each builder closing its own.
func (b *builder) inheritFds() error {
	pa := b.parent
	if pa == nil {
		return nil
	}
	if pa.pass != nil && pa.passFd >= uint64(b.top) {
		fd, err := unix.FcntlInt(pa.pass.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("pid %d: fd passing: %w", b.pid, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err))
		}
		b.pass, b.passFd = os.NewFile(uintptr(fd), "fd passing"), pa.passFd
	}
	if pa.imgHigh != 0 && pa.imgHigh >= uint64(b.top) && pa.imgHigh != b.passFd {
		b.imgHigh = pa.imgHigh
		b.imgFd = b.imgHigh + 1
	}
	return nil
}
