package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
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
