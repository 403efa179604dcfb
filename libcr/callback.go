package libcr

import (
	"errors"
	"sync"

	"stasis/internal/control"
)

// Errors a callback's answer or Ready can return.
var (
	// ErrTempFail: the checkpoint was cancelled for now (BLCR's
	// CR_ETEMPFAIL), by this process or another.
	ErrTempFail = errors.New("libcr: checkpoint cancelled: temporary failure")
	// ErrPermFail: the checkpoint was cancelled and the job is killed.
	ErrPermFail = errors.New("libcr: checkpoint cancelled: permanent failure")
	// ErrOmitted: this process is left out of the checkpoint.
	ErrOmitted = errors.New("libcr: process omitted from the checkpoint")
)

// Info describes a checkpoint in progress.
type Info struct {
	Requester int    // the pid that asked for it; 0: the agent itself (a signal or timer)
	Path      string // where the image goes
	Scope     string // "tree", "process", "group" or "session"
}

// Callback runs before every checkpoint of the process, in a goroutine of
// its own, and answers through e.
type Callback func(e *Event)

// Event is the checkpoint a callback is answering.
type Event struct {
	Info
	r        *round
	depth    int
	answered bool
	res      Result
	err      error
}

// round is one checkpoint seen by this process.
type round struct {
	id   uint64
	info Info
	cbs  []Callback
}

// rounds serialises the checkpoints this process takes part in.
var rounds sync.Mutex

var registry struct {
	mu  sync.Mutex
	cbs []Callback
}

// Register adds cb to the callbacks run before every checkpoint of this
// process (BLCR's cr_register_callback). The most recently registered
// runs first; each one's Ready runs the next, so work a callback does
// after Ready returns happens in the reverse order.
func Register(cb Callback) error {
	if _, err := l.get(); err != nil {
		return err
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.cbs = append([]Callback{cb}, registry.cbs...)
	return nil
}

// prepare answers the agent's EvPrepare: wait for critical sections to
// end, then run the callbacks.
func prepare(ev control.Event) {
	rounds.Lock() // one round at a time, work after Ready included
	defer rounds.Unlock()
	cs.begin()
	defer cs.end()
	registry.mu.Lock()
	cbs := append([]Callback(nil), registry.cbs...)
	registry.mu.Unlock()
	r := &round{id: ev.ID, info: Info{Requester: ev.Requester, Path: ev.Path, Scope: ev.Scope}, cbs: cbs}
	r.run(0)
}

// run runs the callbacks from depth on; past the last, it tells the agent
// this process is ready and waits for the checkpoint to end.
func (r *round) run(depth int) (Result, error) {
	if depth == len(r.cbs) {
		ch := l.wait(r.id)
		if err := l.send(control.Request{Op: control.OpReady, ID: r.id}); err != nil {
			l.deliver(r.id, outcome{})
			return Continued, err
		}
		o := <-ch
		return o.res, o.err
	}
	c := &Event{Info: r.info, r: r, depth: depth}
	r.cbs[depth](c)
	if !c.answered {
		c.Ready() // a callback that says nothing lets the checkpoint go on
	}
	return c.res, c.err
}

// Ready lets the checkpoint go on (BLCR's cr_checkpoint(CR_CHECKPOINT_READY))
// and returns when it is over: Continued in the original, Restarted in a
// copy restarted from the image, or the error that cancelled it.
func (c *Event) Ready() (Result, error) {
	if c.answered {
		return c.res, c.err
	}
	c.answered = true
	c.res, c.err = c.r.run(c.depth + 1)
	return c.res, c.err
}

// TempFail cancels the checkpoint for now (BLCR's
// CR_CHECKPOINT_TEMP_FAILURE): cr_checkpoint exits with status 50. It
// returns ErrTempFail.
func (c *Event) TempFail(reason string) error {
	return c.refuse(control.OpTempFail, reason, ErrTempFail)
}

// PermFail cancels the checkpoint and has the agent kill the job
// (BLCR's CR_CHECKPOINT_PERM_FAILURE). It returns ErrPermFail.
func (c *Event) PermFail(reason string) error {
	return c.refuse(control.OpPermFail, reason, ErrPermFail)
}

// Omit leaves this process out of the checkpoint (BLCR's
// CR_CHECKPOINT_OMIT). It returns ErrOmitted.
func (c *Event) Omit() error {
	return c.refuse(control.OpOmit, "", ErrOmitted)
}

func (c *Event) refuse(op control.Op, reason string, result error) error {
	if c.answered {
		return c.err
	}
	c.answered = true
	c.err = result
	if err := l.send(control.Request{Op: op, ID: c.r.id, Msg: reason}); err != nil {
		c.err = err
	}
	return c.err
}
