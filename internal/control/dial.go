package control

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/proc"
)

// SquatterError: a socket named like the agent's is not the agent's: it is
// listened on by another process, or by another user than the agent runs
// as, or we may not talk to that user. We never send it a request.
type SquatterError struct {
	Name       string
	Agent      int // the pid we looked for
	Pid, Uid   int // who listens on Name, as SO_PEERCRED says
	AgentUid   int // the uid of process Agent (-1: gone)
	ClientUid  int
	notAllowed bool
}

func (e *SquatterError) Error() string {
	why := "not the agent"
	switch {
	case e.Pid == e.Agent && e.Uid != e.AgentUid:
		why = fmt.Sprintf("pid %d runs as uid %d", e.Agent, e.AgentUid)
	case e.notAllowed:
		why = fmt.Sprintf("uid %d does not talk to uid %d", e.ClientUid, e.Uid)
	}
	return fmt.Sprintf("socket %s (listened on by pid %d uid %d) is no agent of ours for pid %d: %s",
		e.Name, e.Pid, e.Uid, e.Agent, why)
}

// dial connects to s, where the agent with pid agent should listen, and
// checks, before anything is sent, that the process listening there is
// that agent: SO_PEERCRED names pid agent, with the uid that process runs
// as (a socket kept open after its pid died and came back to someone else
// shows the old pid but the old uid), and that uid is ours, or root's, or
// we are root (root may talk to anyone's agent). The connection is a plain
// blocking socket, so that a process blocked reading it can be
// checkpointed and restarted like any other read.
func dial(s sock, agent int) (*Conn, error) {
	return connect(s, agent, func(cred unix.Ucred) error { return trust(s.name, cred, agent) })
}

// connect connects to s and passes the peer's credentials to check before
// anything is sent; agent names the agent in messages.
func connect(s sock, agent int, check func(unix.Ucred) error) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: s.name})
	for errors.Is(err, unix.EINTR) {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: s.name})
	}
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT) {
			return nil, ErrNoAgent
		}
		if errors.Is(err, unix.EAGAIN) {
			return nil, fmt.Errorf("agent pid %d: its socket %s accepts no more connections", agent, s.name)
		}
		return nil, fmt.Errorf("agent pid %d: connect to %s: %w", agent, s.name, err)
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
	if err := check(*cred); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := NewConn(fdConn(fd), *cred)
	c.Fd = fd
	return c, nil
}

// trust checks that cred, the peer on socket name, is the agent with pid
// agent and a party we talk to.
func trust(name string, cred unix.Ucred, agent int) error {
	e := &SquatterError{Name: name, Agent: agent, Pid: int(cred.Pid), Uid: int(cred.Uid), AgentUid: -1, ClientUid: os.Getuid()}
	if e.Pid != agent {
		return e
	}
	st, err := proc.ReadStatus(agent)
	if err != nil {
		return e
	}
	if e.AgentUid = st.Uid[1]; e.AgentUid != e.Uid {
		return e
	}
	if e.ClientUid != 0 && !Allowed(cred, e.ClientUid) {
		e.notAllowed = true
		return e
	}
	return nil
}

// trustStandIn checks that cred, the peer on socket s of the agent that
// answers for pid was, is an agent we may ask: a live process listening
// with the uid it runs as, holding s where we may look, and running as
// our own user. Unlike an agent found by its own pid, even root asks only
// its own stand-ins: nothing but the name ties one to the job.
func trustStandIn(s sock, cred unix.Ucred, was int) error {
	e := &SquatterError{Name: s.name, Agent: was, Pid: int(cred.Pid), Uid: int(cred.Uid), AgentUid: -1, ClientUid: os.Getuid()}
	st, err := proc.ReadStatus(e.Pid)
	if e.Pid <= 0 || err != nil || st.Uid[1] != e.Uid {
		return e
	}
	if held, ok := heldSockets(e.Pid); ok && !held[s.ino] {
		return e
	}
	if e.Uid != e.ClientUid {
		e.notAllowed = true
		return e
	}
	return nil
}
