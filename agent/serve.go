package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/control"
	"stasis/internal/proc"
	"stasis/internal/sockdiag"
)

// client is a libcr process connected to us.
type client struct {
	conn    *control.Conn
	pid     int
	fd      int // the connection's fd number in the process
	answers chan control.Request
	gone    chan struct{}
}

// serve accepts control connections until ln is closed; nil: there is
// no socket (New said why).
func (a *Agent) serve(ln *net.UnixListener) {
	if ln == nil {
		return
	}
	for {
		c, err := ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		go a.handle(c, -1)
	}
}

// handle serves one connection: checkpoint requests from cr_checkpoint
// (or anyone of our user), or a libcr process saying hello. uid, if not
// negative, is the peer's uid as the outer cr_restart saw it (package
// namespace), which our user namespace may not be able to name.
func (a *Agent) handle(uc *net.UnixConn, uid int) {
	cred, err := control.PeerCred(uc)
	if err != nil {
		uc.Close()
		return
	}
	if uid >= 0 {
		cred.Uid = uint32(uid)
	}
	conn := control.NewConn(uc, cred)
	if !control.Allowed(cred, a.uid) {
		conn.Send(control.Reply{Error: fmt.Sprintf("uid %d may not use the agent of uid %d (pid %d)", cred.Uid, a.uid, a.self)})
		conn.Close()
		return
	}
	for {
		var req control.Request
		if err := conn.Recv(&req); err != nil {
			if isMalformed(err) {
				conn.Send(control.Reply{Error: err.Error()})
				continue
			}
			if errors.Is(err, control.ErrTooLong) {
				conn.Send(control.Reply{Error: err.Error()})
			}
			conn.Close()
			return
		}
		switch req.Op {
		case control.OpCheckpoint:
			var stream *os.File
			if req.Stream {
				conn.Send(control.Reply{ID: req.ID, OK: true, WantFd: true})
				if stream, err = receiveFd(uc); err != nil {
					conn.Send(control.Reply{ID: req.ID, Error: err.Error()})
					continue
				}
			}
			a.inflight.Add(1)
			r := a.checkpoint(req, int(cred.Pid), nil, stream)
			if stream != nil {
				stream.Close()
			}
			r.ID = req.ID
			conn.Send(r)
			a.inflight.Done()
		case control.OpHello:
			if err := peerFd(uc, int(cred.Pid), req.Fd); err != nil {
				conn.Send(control.Reply{Error: err.Error()})
				conn.Close()
				return
			}
			a.adopt(conn, uc, int(cred.Pid), req.Fd)
			return
		default:
			conn.Send(control.Reply{ID: req.ID, Error: fmt.Sprintf("unknown request %q", req.Op)})
		}
	}
}

// peerFd checks that fd of pid is the other end of uc, as a libcr hello
// claims: a restart rebuilds that fd as the connection to the new agent,
// so a wrong number would replace another socket.
func peerFd(uc *net.UnixConn, pid, fd int) error {
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var st unix.Stat_t
	var serr error
	if err := raw.Control(func(f uintptr) { serr = unix.Fstat(int(f), &st) }); err != nil || serr != nil {
		return fmt.Errorf("hello: %w", errors.Join(err, serr))
	}
	socks, err := sockdiag.UnixSockets()
	if err != nil {
		return err
	}
	ours := socks[st.Ino]
	link, err := proc.FdLink(pid, fd)
	if err != nil || ours == nil || link != fmt.Sprintf("socket:[%d]", ours.Peer) {
		return fmt.Errorf("hello from pid %d: its fd %d (%s) is not this connection", pid, fd, link)
	}
	return nil
}

// receiveFd reads the one byte and fd a client sends for -F.
func receiveFd(uc *net.UnixConn) (*os.File, error) {
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := uc.ReadMsgUnix(make([]byte, 1), oob)
	if err != nil {
		return nil, fmt.Errorf("receive the image fd: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err == nil && len(msgs) == 1 {
		if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
			return os.NewFile(uintptr(fds[0]), "image stream"), nil
		}
	}
	return nil, errors.New("the client sent no fd for the image")
}

func isMalformed(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te)
}

// adopt takes conn (on uc) as the libcr connection of pid, whose own end
// is its fd number fd, and reads its messages until it goes away.
func (a *Agent) adopt(conn *control.Conn, uc *net.UnixConn, pid, fd int) *client {
	cl := &client{conn: conn, pid: pid, fd: fd, answers: make(chan control.Request, 8), gone: make(chan struct{})}
	a.clMu.Lock()
	a.clients[cl] = true
	a.clMu.Unlock()
	go func() {
		defer func() {
			a.clMu.Lock()
			delete(a.clients, cl)
			a.clMu.Unlock()
			close(cl.gone)
			conn.Close()
		}()
		for {
			var req control.Request
			if err := conn.Recv(&req); err != nil {
				if isMalformed(err) {
					conn.Send(control.Event{Ev: control.EvReply, Reply: &control.Reply{Error: err.Error()}})
					continue
				}
				return
			}
			switch req.Op {
			case control.OpReady, control.OpTempFail, control.OpPermFail, control.OpOmit:
				select {
				case cl.answers <- req:
				default: // nobody asked: a stale answer
				}
			case control.OpCheckpoint:
				var stream *os.File
				if req.Stream {
					// The client sends nothing else until it has passed
					// the fd (docs/libcr-protocol.md), so the line reader
					// holds nothing past this request.
					conn.Send(control.Event{Ev: control.EvReply, ID: req.ID, Reply: &control.Reply{ID: req.ID, OK: true, WantFd: true}})
					var err error
					if stream, err = receiveFd(uc); err != nil {
						conn.Send(control.Event{Ev: control.EvReply, ID: req.ID, Reply: &control.Reply{ID: req.ID, Error: err.Error()}})
						return
					}
				}
				a.inflight.Add(1)
				go func() {
					defer a.inflight.Done()
					r := a.checkpoint(req, pid, nil, stream)
					if stream != nil {
						stream.Close()
					}
					r.ID = req.ID
					conn.Send(control.Event{Ev: control.EvReply, ID: req.ID, Reply: &r})
				}()
			default:
				conn.Send(control.Event{Ev: control.EvReply, ID: req.ID,
					Reply: &control.Reply{ID: req.ID, Error: fmt.Sprintf("unknown request %q", req.Op)}})
			}
		}
	}()
	return cl
}

// adoptRestored takes over the libcr connection that a restored process
// has at fd, our end being f, and tells the process it was restarted.
func (a *Agent) adoptRestored(pid, fd int, f *os.File) error {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("pid %d: libcr connection: %w", pid, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return fmt.Errorf("pid %d: libcr connection is not a unix socket", pid)
	}
	cred, err := control.PeerCred(uc)
	if err != nil {
		uc.Close()
		return fmt.Errorf("pid %d: libcr connection: %w", pid, err)
	}
	conn := control.NewConn(uc, cred)
	a.adopt(conn, uc, pid, fd)
	return conn.Send(control.Event{Ev: control.EvRestarted, Path: a.cfg.Image, Requester: os.Getpid()})
}

// clientsOf lists the libcr connections of pid.
func (a *Agent) clientsOf(pid int) []*client {
	a.clMu.Lock()
	defer a.clMu.Unlock()
	var out []*client
	for cl := range a.clients {
		if cl.pid == pid {
			out = append(out, cl)
		}
	}
	return out
}
