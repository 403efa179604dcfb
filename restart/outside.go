package restart

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// An Inherit gives the restored processes one of cr_restart's own
// descriptors in place of a pipe or unix socket that led outside the
// checkpoint and was cut (cr_checkpoint --cut-pipes): CRIU's --inherit-fd,
// spelt as CRIU spells it, fd[N]:pipe:[INODE] or fd[N]:socket:[INODE].
type Inherit struct {
	Fd  int
	Key string // "pipe:[INODE]" or "socket:[INODE]", the fd's link at the checkpoint
}

var inheritSpelling = regexp.MustCompile(`^fd\[(\d+)\]:((?:pipe|socket):\[\d+\])$`)

// ParseInherit reads an --inherit-fd argument, and checks that its fd is
// open.
func ParseInherit(arg string) (Inherit, error) {
	m := inheritSpelling.FindStringSubmatch(arg)
	if m == nil {
		return Inherit{}, fmt.Errorf("--inherit-fd %s: want fd[N]:pipe:[INODE] or fd[N]:socket:[INODE], the INODE of the pipe or socket the checkpoint cut (its refusal without --cut-pipes names it)", arg)
	}
	fd, err := strconv.Atoi(m[1])
	if err != nil {
		return Inherit{}, fmt.Errorf("--inherit-fd %s: %w", arg, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil {
		return Inherit{}, fmt.Errorf("--inherit-fd %s: fd %d is not open: %w", arg, fd, err)
	}
	return Inherit{Fd: fd, Key: m[2]}, nil
}

// inherited is a duplicate of the descriptor --inherit-fd gives for the
// cut end key (an *os.File over the caller's own would close it when
// collected), or nil; it is marked as used.
func (b *builder) inherited(key string) (*os.File, error) {
	for _, in := range b.opt.Inherit {
		if in.Key == key {
			b.shared.used[key] = true
			fd, err := unix.FcntlInt(uintptr(in.Fd), unix.F_DUPFD_CLOEXEC, 3)
			if err != nil {
				return nil, fmt.Errorf("--inherit-fd fd[%d]:%s: %w", in.Fd, key, err)
			}
			return os.NewFile(uintptr(fd), "--inherit-fd "+key), nil
		}
	}
	return nil, nil
}

// unusedInherit says which --inherit-fd named nothing the image cut, so
// that a misspelt inode is not passed over in silence.
func unusedInherit(opt Options, used map[string]bool, cut []string) error {
	for _, in := range opt.Inherit {
		if !used[in.Key] {
			have := "it cut none"
			if len(cut) > 0 {
				slices.Sort(cut)
				have = "it cut " + strings.Join(slices.Compact(cut), ", ")
			}
			return fmt.Errorf("--inherit-fd fd[%d]:%s: the image has no pipe or socket %s that the checkpoint cut from outside (%s)", in.Fd, in.Key, in.Key, have)
		}
	}
	return nil
}

// outsidePipe installs the end of a pipe whose other end was outside the
// checkpoint: the descriptor --inherit-fd gives for it, or else (ok false)
// the widowed pipe pipeEnd makes.
//
// Precondition: called on the owner thread.
func (b *builder) outsidePipe(f *image.Fd) (ok bool, err error) {
	key := fmt.Sprintf("pipe:[%d]", f.Pipe.Ino)
	b.shared.cut = append(b.shared.cut, key)
	end, err := b.inherited(key)
	if end == nil || err != nil {
		return false, err
	}
	defer end.Close()
	return true, b.installEnd(end, f, unix.O_NONBLOCK|unix.O_APPEND)
}

// outsideSocket installs a unix socket that was connected outside the
// checkpoint, or to a bound one of the image: a datagram socket, to be
// connected again to the name it was connected to (dgram.go); a cut
// stream, the descriptor --inherit-fd gives for it or else one end of a
// new pair holding what waited in it, whose other end is closed, so that
// the program reads that, then end of file, and a write fails with EPIPE,
// as from a peer that went away.
//
// Precondition: called on the owner thread.
func (b *builder) outsideSocket(f *image.Fd) error {
	sk := f.Socket
	key := fmt.Sprintf("socket:[%d]", sk.Ino)
	s := b.shared
	if sk.Outside {
		s.cut = append(s.cut, key)
		end, err := b.inherited(key)
		if err != nil {
			return err
		}
		if end != nil {
			defer end.Close()
			return b.installEnd(end, f, unix.O_NONBLOCK)
		}
	}
	if s.socks[sk.Ino] == nil {
		var end, peer *os.File
		var err error
		if sk.Connect != "" {
			end, err = b.dgramClient(f)
		} else {
			end, peer, err = outsideEnd(sk)
		}
		if err != nil {
			return err
		}
		s.socks[sk.Ino] = end
		if peer != nil {
			s.fills = append(s.fills, queueFill{who: fmt.Sprintf("pid %d fd %d", b.p.Pid, f.Num), peer: peer, sk: sk, own: true})
		}
	}
	return b.installEnd(s.socks[sk.Ino], f, unix.O_NONBLOCK)
}

// outsideEnd makes the socket outsideSocket installs for a cut one, and
// the peer its queue is sent again from (by fillQueues), which closes it
// then.
func outsideEnd(sk *image.Socket) (end, peer *os.File, err error) {
	if !sk.Outside {
		return nil, nil, fmt.Errorf("socket %d: neither a pair, cut, nor connected to a path: image damaged", sk.Ino)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, sk.Type|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	if err := setOpts(fds[0], sk.Opts); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "socket"), os.NewFile(uintptr(fds[1]), "socket"), nil
}
