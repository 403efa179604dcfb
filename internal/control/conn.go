package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// maxLine bounds one message: a longer line is a protocol error.
const maxLine = 64 << 10

// ErrTooLong: a message longer than maxLine; the connection is dropped.
var ErrTooLong = fmt.Errorf("message longer than %d bytes", maxLine)

// Conn carries messages one JSON object per line. Sends may come from
// several goroutines; receives from one.
type Conn struct {
	rw   io.ReadWriteCloser
	r    *bufio.Reader
	mu   sync.Mutex
	Peer unix.Ucred // who is on the other end
	Fd   int        // for a Conn made by Dial: its socket, else -1
}

// NewConn wraps rw, which must be a unix stream socket fd or connection.
func NewConn(rw io.ReadWriteCloser, peer unix.Ucred) *Conn {
	return &Conn{rw: rw, r: bufio.NewReaderSize(rw, 4096), Peer: peer, Fd: -1}
}

// Send writes v as one line.
func (c *Conn) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.rw.Write(append(b, '\n'))
	return err
}

// Recv reads one line into v. A line that is too long or not JSON is an
// error; the connection should then be dropped.
func (c *Conn) Recv(v any) error {
	var line []byte
	for {
		part, more, err := c.r.ReadLine()
		if err != nil {
			return err
		}
		line = append(line, part...)
		if len(line) > maxLine {
			return ErrTooLong
		}
		if !more {
			break
		}
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("malformed message: %w", err)
	}
	return nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.rw.Close() }

// Addr is the abstract unix socket name of the agent whose pid is pid.
// An abstract name vanishes with its agent, so none is ever stale.
func Addr(pid int) string { return "@stasis-agent-" + strconv.Itoa(pid) }

// Allowed says whether a peer with these credentials may talk to a party
// running as uid: the same user, or root.
func Allowed(peer unix.Ucred, uid int) bool {
	return int(peer.Uid) == uid || peer.Uid == 0
}

// PeerCred reads the credentials of the other end of a unix socket.
func PeerCred(c *net.UnixConn) (unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return unix.Ucred{}, err
	}
	var cred *unix.Ucred
	var serr error
	err = raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err = errors.Join(err, serr); err != nil {
		return unix.Ucred{}, os.NewSyscallError("getsockopt(SO_PEERCRED)", err)
	}
	return *cred, nil
}

// SquatterError: the address of an agent is held by another process, or
// by another user's agent, which we do not talk to.
type SquatterError struct{ Agent, Pid, Uid int }

func (e *SquatterError) Error() string {
	return fmt.Sprintf("socket %s is held by pid %d uid %d: not an agent of ours", Addr(e.Agent), e.Pid, e.Uid)
}

// ErrNoAgent: nobody listens at the address.
var ErrNoAgent = errors.New("no agent")

// Dial connects to the agent with pid agent and checks that it is that
// process and runs as our user or as root (root may talk to anyone's).
// The connection is a plain blocking socket, so that a process blocked
// reading it can be checkpointed and restarted like any other read.
func Dial(agent int) (*Conn, error) { return dial(Addr(agent), agent) }

// dial connects to addr, where the agent with pid agent should listen.
func dial(addr string, agent int) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: addr})
	for errors.Is(err, unix.EINTR) {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: addr})
	}
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT) {
			return nil, ErrNoAgent
		}
		if errors.Is(err, unix.EAGAIN) {
			return nil, fmt.Errorf("agent pid %d: its socket %s accepts no more connections", agent, addr)
		}
		return nil, fmt.Errorf("agent pid %d: connect: %w", agent, err)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("getsockopt(SO_PEERCRED)", err)
	}
	if int(cred.Pid) != agent || !(os.Getuid() == 0 || Allowed(*cred, os.Getuid())) {
		unix.Close(fd)
		return nil, &SquatterError{Agent: agent, Pid: int(cred.Pid), Uid: int(cred.Uid)}
	}
	c := NewConn(fdConn(fd), *cred)
	c.Fd = fd
	return c, nil
}

// fdConn is a blocking socket used through plain read and write calls.
type fdConn int

func (f fdConn) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(int(f), b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("read", err)
		}
		if n == 0 && len(b) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f fdConn) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Write(int(f), b[done:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return done, os.NewSyscallError("write", err)
		}
		done += n
	}
	return done, nil
}

func (f fdConn) Close() error { return unix.Close(int(f)) }
