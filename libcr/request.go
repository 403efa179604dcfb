package libcr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"stasis/internal/control"
)

// Options say what Checkpoint saves and where.
type Options struct {
	// Job checkpoints the whole job (all the agent supervises) instead of
	// this process.
	Job bool
	// Path is the image file; empty: the agent's destination (cr_run -f
	// or -d), else context.PID in this process's working directory.
	Path string
}

// Checkpoint takes a checkpoint of this process (or its job) and returns
// how it ended for the caller: Continued in the original, Restarted in a
// copy restarted from the image, with the image path either way. The
// process's own callbacks run first, as for any checkpoint. Do not call
// it inside a critical section: the checkpoint would wait for it forever.
func Checkpoint(opt Options) (Result, string, error) {
	if _, err := l.get(); err != nil {
		return Continued, "", err
	}
	l.mu.Lock()
	conn, direct := l.conn, l.direct
	l.mu.Unlock()
	if conn == nil || direct {
		return Continued, "", ErrNoAgent
	}
	if CurrentStatus() == Running {
		return Continued, "", errors.New("libcr: Checkpoint called while a checkpoint of this process is running (from a callback?)")
	}
	req := control.Request{Op: control.OpCheckpoint, Scope: control.ScopeProcess, Target: os.Getpid()}
	if opt.Job {
		req.Target, req.Scope = 0, control.ScopeTree
	}
	if opt.Path != "" {
		p, err := filepath.Abs(opt.Path)
		if err != nil {
			return Continued, "", err
		}
		req.Path = p
	}
	l.mu.Lock()
	l.nextReq++
	req.ID = l.nextReq
	l.mu.Unlock()
	ch := l.wait(req.ID | reqBit)
	if err := conn.Send(req); err != nil {
		l.deliver(req.ID|reqBit, outcome{})
		return Continued, "", fmt.Errorf("libcr: agent: %w", err)
	}
	o := <-ch
	switch {
	case o.err != nil:
		return Continued, "", o.err
	case o.reply == nil: // ended by a restart
		return o.res, o.path, nil
	case !o.reply.OK:
		return Continued, "", fmt.Errorf("libcr: checkpoint failed: %w", replyErr(o.reply))
	}
	return Continued, o.reply.Path, nil
}

func replyErr(r *control.Reply) error {
	switch r.Status {
	case control.StatusTempFail:
		return fmt.Errorf("%w: %s", ErrTempFail, r.Error)
	case control.StatusPermFail:
		return fmt.Errorf("%w: %s", ErrPermFail, r.Error)
	}
	return errors.New(r.Error)
}
