package libcr

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"stasis/internal/control"
)

// ErrNoAgent is returned when the process does not run under cr_run or
// cr_restart.
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

// link is the process's one connection to its agent.
type link struct {
	once    sync.Once
	err     error
	conn    *control.Conn
	mu      sync.Mutex
	waits   map[uint64]chan outcome // checkpoints we said ready for; our own requests (by id|reqBit)
	nextReq uint64
	image   string // the image we were restarted from
}

const reqBit = 1 << 63 // our own request ids live apart from the agent's checkpoint ids

var l = &link{waits: map[uint64]chan outcome{}}

// get connects on first use.
func (l *link) get() (*link, error) {
	l.once.Do(func() {
		conn, _, err := control.Find(os.Getppid())
		if errors.Is(err, control.ErrNoAgent) {
			l.err = ErrNoAgent
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
		go l.read()
	})
	return l, l.err
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

// read handles the agent's messages. It blocks in read(2) on a plain
// socket, which is what lets a restarted copy wake up connected to its new
// agent: the restarter puts a new connection at the same fd number.
func (l *link) read() {
	for {
		var ev control.Event
		if err := l.conn.Recv(&ev); err != nil {
			l.conn.Close() // so the agent sees us gone, not silent
			l.fail(fmt.Errorf("libcr: connection to agent pid %d lost: %w", l.conn.Peer.Pid, err))
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
