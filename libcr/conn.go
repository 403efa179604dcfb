package libcr

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"stasis/internal/control"
)

// ErrNoAgent is returned by Checkpoint when the process does not run
// under cr_run or cr_restart: without an agent, nobody takes requests
// (callbacks still run, at every cr_checkpoint of the process).
var ErrNoAgent = errors.New("libcr: not running under cr_run or cr_restart")

// Result says how a checkpoint ended for the process that asked.
type Result int

const (
	// Continued: this is the original process, running on.
	Continued Result = iota
	// Restarted: this process was restarted from the image.
	Restarted
)

func (r Result) String() string {
	if r == Restarted {
		return "restarted"
	}
	return "continued"
}

// outcome ends a wait: a checkpoint's done, a restart, or a reply.
type outcome struct {
	res   Result
	path  string
	err   error
	reply *control.Reply
}

// link is the process's one connection to its agent, or, with no agent,
// to the cr_checkpoint that is taking its checkpoint.
type link struct {
	once    sync.Once
	err     error
	mu      sync.Mutex
	conn    *control.Conn           // nil: none now
	direct  bool                    // conn is a cr_checkpoint's, not an agent's
	waits   map[uint64]chan outcome // checkpoints we said ready for; our own requests (by id|reqBit)
	nextReq uint64
	image   string // the image we were restarted from
}

const reqBit = 1 << 63 // our own request ids live apart from the agent's checkpoint ids

var l = &link{waits: map[uint64]chan outcome{}}

// get connects on first use; with no agent it listens for cr_checkpoint
// instead (docs/libcr-protocol.md, "Without an agent").
func (l *link) get() (*link, error) {
	l.once.Do(func() {
		conn, _, err := control.Find(os.Getppid())
		if errors.Is(err, control.ErrNoAgent) {
			ln, err := control.ListenLibcr()
			if err != nil {
				l.err = fmt.Errorf("libcr: no agent, and %w", err)
				return
			}
			go l.serve(ln)
			return
		}
		if err != nil {
			l.err = fmt.Errorf("libcr: %w", err)
			return
		}
		if err := conn.Send(control.Request{Op: control.OpHello, Fd: conn.Fd}); err != nil {
			conn.Close()
			l.err = fmt.Errorf("libcr: agent: %w", err)
			return
		}
		l.conn = conn
		go l.read(conn)
	})
	return l, l.err
}

// serve takes the connections of cr_checkpoint to listener ln one at a
// time, each as an agent's. After a restart the one it was reading is the
// new agent's, read until it ends.
func (l *link) serve(ln int) {
	for {
		c, err := control.AcceptLibcr(ln)
		if err != nil {
			time.Sleep(100 * time.Millisecond) // out of fds, say: try again
			continue
		}
		l.mu.Lock()
		l.conn, l.direct = c, true
		l.mu.Unlock()
		if c.Send(control.Request{Op: control.OpHello, Fd: c.Fd}) != nil {
			c.Close()
			continue
		}
		l.read(c)
	}
}

// send sends v on the current connection.
func (l *link) send(v any) error {
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	if c == nil {
		return errors.New("libcr: no agent or checkpointer to answer")
	}
	return c.Send(v)
}

// wait registers a waiter for id.
func (l *link) wait(id uint64) chan outcome {
	ch := make(chan outcome, 1)
	l.mu.Lock()
	l.waits[id] = ch
	l.mu.Unlock()
	return ch
}

func (l *link) deliver(id uint64, o outcome) {
	l.mu.Lock()
	ch := l.waits[id]
	delete(l.waits, id)
	l.mu.Unlock()
	if ch != nil {
		ch <- o
	}
}

// read handles the messages on c until it ends. It blocks in read(2) on
// a plain socket, which is what lets a restarted copy wake up connected to
// its new agent: the restarter puts a new connection at the same fd
// number.
func (l *link) read(c *control.Conn) {
	for {
		var ev control.Event
		if err := c.Recv(&ev); err != nil {
			c.Close() // so the agent sees us gone, not silent
			l.mu.Lock()
			if l.conn == c {
				l.conn, l.direct = nil, false
			}
			l.mu.Unlock()
			l.fail(fmt.Errorf("libcr: connection to pid %d lost: %w", c.Peer.Pid, err))
			return
		}
		switch ev.Ev {
		case control.EvPrepare:
			go prepare(ev)
		case control.EvDone:
			o := outcome{res: Continued, path: ev.Path}
			if ev.Error != "" {
				o.err = errors.New(ev.Error)
			}
			l.deliver(ev.ID, o)
		case control.EvReply:
			if ev.Reply != nil {
				l.deliver(ev.ID|reqBit, outcome{reply: ev.Reply})
			}
		case control.EvRestarted:
			l.mu.Lock()
			l.image = ev.Path
			l.direct = false // c is the new agent's now
			waits := l.waits
			l.waits = map[uint64]chan outcome{}
			l.mu.Unlock()
			for _, ch := range waits {
				ch <- outcome{res: Restarted, path: ev.Path}
			}
		}
	}
}

// fail ends every wait with err.
func (l *link) fail(err error) {
	l.mu.Lock()
	waits := l.waits
	l.waits = map[uint64]chan outcome{}
	l.mu.Unlock()
	for _, ch := range waits {
		ch <- outcome{err: err}
	}
}

// RestartedFrom returns the image this process was last restarted from,
// or "" if it has not been restarted since it first called libcr.
func RestartedFrom() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.image
}
