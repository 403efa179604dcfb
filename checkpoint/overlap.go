package checkpoint

import (
	"sync"

	"stasis/internal/image"
	"stasis/internal/trace"
)

// overlapAhead is how many captured processes may wait to be written:
// each holds its record and the small files it keeps, not its pages.
const overlapAhead = 4

// writeOverlapped captures each process on the owner thread and writes it
// into w on another goroutine, so that process i's pages are read and
// written while process i+1 is captured: the two CPUs share the work that
// captureAll and the emits after it do one after the other. The image
// holds the same records in the same order, for every capture reaches w
// only through what it queues, but for the mapped files a process saves
// (--save-*), which are written once every process before it is.
// Only for a set that stays frozen until the image is written: without
// snapshots, emit reads each process's pages from the process itself,
// which nothing changes meanwhile, and emit makes no ptrace request.
//
// Precondition: called on the owner thread.
func (s *Set) writeOverlapped(w *image.Writer) error {
	type queued struct {
		c *captured
		f *Frozen
	}
	queue := make(chan queued, overlapAhead)
	var pending sync.WaitGroup // processes queued and not yet written
	failed := make(chan struct{})
	var emitErr error // set before failed is closed
	written := make(chan struct{})
	go func() {
		defer close(written)
		for q := range queue {
			if emitErr == nil {
				if emitErr = q.c.emit(w, nil, q.f.dedup); emitErr != nil {
					close(failed)
				}
			} else {
				q.c.close()
			}
			pending.Done()
		}
	}()
	stopped := func() bool {
		select {
		case <-failed:
			return true
		default:
			return false
		}
	}
	// Files a capture saves go into w once it is the emitter's no more.
	flush := func() error {
		pending.Wait()
		if stopped() {
			return emitErr
		}
		return nil
	}
	var err error
	for _, f := range s.procs {
		if stopped() {
			break
		}
		f.guard = s.guard
		f.files.beforeSave = flush
		var c *captured
		if c, err = f.capture(w, false); err != nil {
			break
		}
		pending.Add(1)
		queue <- queued{c, f}
	}
	trace.Mark("checkpoint: %d processes captured", len(s.procs))
	close(queue)
	<-written
	if emitErr != nil {
		return emitErr // and err, if set, is emitErr or a capture given up for it
	}
	return err
}
