package restart

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
)

// Unix datagram sockets connected to bound ones, and the datagrams that
// waited on bound ones: the connections, and the datagrams sent again,
// wait until every process of the image is made (a client may come
// before its server in the image), and precede what a fork would pass
// on (phase two).

// dgramEnd is a datagram socket connected to a bound one (sk.Connect),
// made and given to its process, to be connected by connectDgrams.
type dgramEnd struct {
	f  *os.File // ours; the process holds its own
	sk *image.Socket
}

// dgramClient makes the socket of f, a datagram socket connected to a
// bound one: bound to its own name in the process, as a server's socket
// is (listener), or unnamed.
//
// Precondition: called on the owner thread.
func (b *builder) dgramClient(f *image.Fd) (*os.File, error) {
	sk := f.Socket
	if sk.Type != unix.SOCK_DGRAM || sk.Name == "" && sk.Mode != 0 {
		return nil, fmt.Errorf("socket %d of type %d connected to %s, named %q, mode %o: image damaged", sk.Ino, sk.Type, sk.Connect, sk.Name, sk.Mode)
	}
	var end *os.File
	if sk.Name == "" {
		fd, err := unix.Socket(unix.AF_UNIX, sk.Type|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, os.NewSyscallError("socket", err)
		}
		if err := setOpts(fd, sk.Opts); err != nil {
			unix.Close(fd)
			return nil, err
		}
		end = os.NewFile(uintptr(fd), "socket")
	} else {
		l := &image.Listener{Family: unix.AF_UNIX, Type: sk.Type, Addr: sk.Name, Mode: sk.Mode, Opts: sk.Opts}
		fd, err := b.listener(&image.Fd{Flags: f.Flags, Listener: l})
		if err != nil {
			return nil, err
		}
		end, err = kernel.TakeFd(b.pid, int(fd), "socket")
		b.call(unix.SYS_CLOSE, fd)
		if err != nil {
			return nil, err
		}
	}
	b.shared.dgram = append(b.shared.dgram, dgramEnd{end, sk})
	return end, nil
}

// checkQueue checks the datagrams a server's socket l of the image had
// waiting, before it is made.
func checkQueue(l *image.Listener) error {
	if len(l.Queue) == 0 && len(l.From) == 0 {
		return nil
	}
	if l.Family != unix.AF_UNIX || l.Type != unix.SOCK_DGRAM || l.Addr == "" || len(l.From) != len(l.Queue) {
		return fmt.Errorf("socket of family %d, type %d, address %q with %d datagrams waiting from %d senders: image damaged", l.Family, l.Type, l.Addr, len(l.Queue), len(l.From))
	}
	return nil
}

// connectDgrams, once every process of the image is made, sends again
// the datagrams that waited on its servers' sockets, from their senders,
// then connects its datagram sockets that were connected to bound ones,
// then sends again the datagrams that waited on those, from the sockets
// they are connected to. Each comes from a socket that recvfrom names as
// the original sender: a new unnamed one, or the socket of the image
// bound to that name. Before the connections, so that a server's socket
// may take datagrams from a client connected elsewhere since; after,
// so that a client's queue may hold more than net.unix.max_dgram_qlen
// from the socket it is connected to, as it could.
func connectDgrams(bs []*builder, s *shared) error {
	senders := map[string]*os.File{}
	defer func() {
		for _, f := range senders {
			f.Close()
		}
	}()
	// from is the socket of the image bound to name.
	from := func(name string) (int, error) {
		if f := senders[name]; f != nil {
			return int(f.Fd()), nil
		}
		for _, d := range s.dgram {
			if d.sk.Name == name {
				return int(d.f.Fd()), nil
			}
		}
		for _, b := range bs {
			for _, f := range b.p.Fds {
				if l := f.Listener; f.Kind == image.FdListener && l != nil && l.Family == unix.AF_UNIX && l.Type == unix.SOCK_DGRAM && l.Addr == name {
					dup, err := kernel.TakeFd(b.pid, f.Num, "socket")
					if err != nil {
						return -1, err
					}
					senders[name] = dup
					return int(dup.Fd()), nil
				}
			}
		}
		return -1, fmt.Errorf("from %s, which no datagram socket of the image is bound to: image damaged", name)
	}
	for _, b := range bs {
		for _, f := range b.p.Fds {
			if f.Kind != image.FdListener || f.Listener == nil {
				continue
			}
			l := f.Listener
			for i, m := range l.Queue {
				if err := sendDgram(l.From[i], l.Addr, m, from); err != nil {
					return fmt.Errorf("pid %d fd %d (%s): datagram %d of %d waiting on it: %w", b.p.Pid, f.Num, l.Addr, i+1, len(l.Queue), err)
				}
			}
		}
	}
	for _, d := range connectOrder(s.dgram) {
		if err := unix.Connect(int(d.f.Fd()), unixAddr(d.sk.Connect)); err != nil {
			return fmt.Errorf("socket %d: connect to %s, which it was connected to: %w", d.sk.Ino, d.sk.Connect, err)
		}
	}
	for _, b := range bs {
		for _, f := range b.p.Fds {
			sk := f.Socket
			if f.Kind != image.FdSocket || sk == nil || sk.Connect == "" || len(sk.Queue) == 0 {
				continue
			}
			if sk.Name == "" {
				return fmt.Errorf("pid %d fd %d: unnamed socket connected to %s with %d datagrams waiting: image damaged", b.p.Pid, f.Num, sk.Connect, len(sk.Queue))
			}
			for i, m := range sk.Queue {
				if err := sendDgram(sk.Connect, sk.Name, m, from); err != nil {
					return fmt.Errorf("pid %d fd %d (%s): datagram %d of %d waiting on it: %w", b.p.Pid, f.Num, sk.Name, i+1, len(sk.Queue), err)
				}
			}
		}
	}
	return nil
}

// connectOrder orders the connections so that a socket connected to one
// of them that is connected to a third is connected first: the kernel
// refuses (EPERM) a connection to a datagram socket connected to another.
func connectOrder(ends []dgramEnd) []dgramEnd {
	var out []dgramEnd
	done := make([]bool, len(ends))
	for len(out) < len(ends) {
		progress := false
		for i, d := range ends {
			ready := !done[i]
			for j, x := range ends {
				if j != i && !done[j] && d.sk.Name != "" && x.sk.Connect == d.sk.Name && d.sk.Connect != x.sk.Name {
					ready = false // x first
				}
			}
			if ready {
				out, done[i], progress = append(out, d), true, true
			}
		}
		if !progress { // a cycle, which no checkpoint makes: as they come
			for i, d := range ends {
				if !done[i] {
					out, done[i] = append(out, d), true
				}
			}
		}
	}
	return out
}

// sendDgram sends m to the socket bound to name, from a new unnamed
// socket if sender is "", else from the socket of the image bound to
// sender (from), never blocking: a queue that does not fit again fails
// the restart.
func sendDgram(sender, name string, m []byte, from func(string) (int, error)) error {
	var fd int
	if sender == "" {
		var err error
		if fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return os.NewSyscallError("socket", err)
		}
		defer unix.Close(fd) // the datagram holds it until it is read
	} else {
		var err error
		if fd, err = from(sender); err != nil {
			return err
		}
	}
	err := unix.Sendto(fd, m, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, unixAddr(name))
	if errors.Is(err, unix.EAGAIN) {
		err = fmt.Errorf("%w: it does not fit again (net.unix.max_dgram_qlen or the sender's SO_SNDBUF lower than at the checkpoint?)", err)
	}
	if err != nil {
		return fmt.Errorf("sendto %s from %q: %w", name, sender, err)
	}
	return nil
}
