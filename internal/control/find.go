package control

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/proc"
)

// Find returns a connection to the agent of pid: pid itself if it is an
// agent, else its nearest ancestor that is one. It returns ErrNoAgent when
// there is none.
func Find(pid int) (conn *Conn, agent int, err error) {
	all, err := listNames()
	if err != nil {
		return nil, 0, err
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
		return all.standIn(pid)
	}
	p := pid
	for p > 1 {
		c, err := all.dial(prefix(p), p)
		if err == nil {
			return c, p, nil
		}
		if !errors.Is(err, ErrNoAgent) {
			return nil, 0, err
		}
		st, err := proc.ReadStat(p)
		if err != nil {
			break // gone, or never was: no agent to ask
		}
		p = st.PPid
	}
	if p == 1 {
		// Pid 1 may be the agent of a job that cr_restart restored in a
		// pid namespace of its own.
		if np, err := nsPrefix(); err == nil {
			c, err := all.dial(np, 1)
			if err == nil {
				return c, 1, nil
			}
		}
	}
	return nil, 0, ErrNoAgent
}

// Dial connects to the agent with pid agent; ErrNoAgent if it is none.
func Dial(agent int) (*Conn, error) {
	all, err := listNames()
	if err != nil {
		return nil, err
	}
	return all.dial(prefix(agent), agent)
}

// dial connects to the agent with pid agent through one of the sockets
// named with prefix p. Where we may list the agent's fds, only a socket it
// holds is tried, so a squatter's is never even connected to; each that
// is tried must pass dial's checks. A socket that fails them is skipped,
// so no one can hide an agent by adding names.
func (n names) dial(p string, agent int) (*Conn, error) {
	cands := n.with(p)
	if len(cands) == 0 {
		return nil, ErrNoAgent
	}
	if held, ok := heldSockets(agent); ok {
		var mine []sock
		for _, s := range cands {
			if held[s.ino] {
				mine = append(mine, s)
			}
		}
		cands = mine
	}
	var failed error
	for _, s := range cands {
		c, err := dial(s, agent)
		if err == nil {
			return c, nil
		}
		var squat *SquatterError
		if !errors.As(err, &squat) && !errors.Is(err, ErrNoAgent) {
			failed = err
		}
	}
	if failed != nil {
		return nil, failed
	}
	return nil, ErrNoAgent
}

// heldSockets lists the inodes of the sockets process pid holds; ok is
// false when we may not look (another user's process, or one with more
// capabilities than ours).
func heldSockets(pid int) (held map[uint64]bool, ok bool) {
	fds, err := proc.Fds(pid)
	if err != nil {
		return nil, false
	}
	held = map[uint64]bool{}
	for _, fd := range fds {
		link, err := proc.FdLink(pid, fd)
		if errors.Is(err, os.ErrPermission) {
			return nil, false // the list is readable, the links not
		}
		if rest, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			if ino, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64); err == nil {
				held[ino] = true
			}
		}
	}
	return held, true
}

// standIn connects to the agent that answers for pid was, which is no
// process now: the agent of a job restarted from an image that the agent
// with pid was took (or that an agent answering for was took). Two such
// agents (the image restarted twice) are an error naming both.
func (n names) standIn(was int) (*Conn, int, error) {
	var conns []*Conn
	var agents []int
	for _, s := range n.with(standInPrefix(was)) {
		c, err := connect(s, was, func(cred unix.Ucred) error { return trustStandIn(s, cred, was) })
		if err == nil {
			conns, agents = append(conns, c), append(agents, int(c.Peer.Pid))
		}
	}
	switch len(conns) {
	case 0:
		return nil, 0, ErrNoAgent
	case 1:
		return conns[0], agents[0], nil
	}
	for _, c := range conns {
		c.Close()
	}
	return nil, 0, fmt.Errorf("pid %d is gone, and agents %v each answer for it (each restarted a job from its images): name one of them", was, agents)
}
