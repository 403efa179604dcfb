package control

import (
	"errors"

	"stasis/internal/proc"
)

// Find returns a connection to the agent of pid: pid itself if it is an
// agent, else its nearest ancestor that is one. It returns ErrNoAgent when
// there is none.
func Find(pid int) (conn *Conn, agent int, err error) {
	for p := pid; p > 1; {
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
	return nil, 0, ErrNoAgent
}
