package control

import (
	"errors"
	"os"

	"stasis/internal/proc"
)

// Find returns a connection to the agent of pid: pid itself if it is an
// agent, else its nearest ancestor that is one. It returns ErrNoAgent when
// there is none.
func Find(pid int) (conn *Conn, agent int, err error) {
	p := pid
	for p > 1 {
		c, err := Dial(p)
		if err == nil {
			return c, p, nil
		}
		var squat *SquatterError
		if !errors.Is(err, ErrNoAgent) && !errors.As(err, &squat) {
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
		if addr, err := NamespaceAddr(); err == nil {
			if c, err := dial(addr, 1); err == nil {
				return c, 1, nil
			}
		}
	}
	return nil, 0, ErrNoAgent
}

// NamespaceAddr is the second name of an agent that is pid 1 of a pid
// namespace cr_restart made for its job: the job, which sees it as pid 1,
// finds it there. The namespace's identity keeps such agents apart.
func NamespaceAddr() (string, error) {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return "", err
	}
	return "@stasis-agent-1-" + ns, nil
}
