package checkpoint

import (
	"sync"

	"stasis/internal/image"
	"stasis/internal/trace"
)

// overlapAhead is how many captured processes may wait to be read: each
// holds its record and the small files it keeps, not its pages.
const overlapAhead = 4

// writeOverlapped writes the processes into w in three stages, one
// process in each at a time: the owner thread captures process i+2 while
// a goroutine reads the pages of process i+1 (if they fit one read batch)
// and another writes process i. The two CPUs share what captureAll and
// the emits after it do one after the other, and a process's pages are
// read while the one before's are written, which copyRuns does only
// within a process larger than a batch. The image holds the same records
// in the same order: every capture reaches w only through the stages, in
// order, but for the mapped files a process saves (--save-*), which are
// written once every process before it is; and dedup sees the processes
// in order. Only for a set that stays frozen until the image is written:
// without snapshots, pages are read from each process itself, which
// nothing changes meanwhile, and neither stage makes a ptrace request.
//
// Precondition: called on the owner thread.
func (s *Set) writeOverlapped(w *image.Writer) error {
	caps := make(chan *captured, overlapAhead)
	read := make(chan *ahead, 1)
	var pending sync.WaitGroup // processes captured and not yet written
	failed := make(chan struct{})
	var once sync.Once
	var stageErr error // set before failed is closed
	fail := func(err error) {
		once.Do(func() {
			stageErr = err
			close(failed)
		})
	}
	stopped := func() bool {
		select {
		case <-failed:
			return true
		default:
			return false
		}
	}
	var d *dedup
	if len(s.procs) > 0 {
		d = s.procs[0].dedup
	}
	go func() {
		defer close(read)
		for c := range caps {
			if stopped() {
				c.close()
				pending.Done()
				continue
			}
			a, err := readAhead(c, d)
			if err != nil {
				fail(err)
				c.close()
				pending.Done()
				continue
			}
			read <- a
		}
	}()
	written := make(chan struct{})
	go func() {
		defer close(written)
		for a := range read {
			if stopped() {
				a.discard()
			} else if err := a.write(w); err != nil {
				fail(err)
			}
			pending.Done()
		}
	}()
	// Files a capture saves go into w once it is the stages' no more.
	flush := func() error {
		pending.Wait()
		if stopped() {
			return stageErr
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
		caps <- c
	}
	trace.Mark("checkpoint: %d processes captured", len(s.procs))
	close(caps)
	<-written
	if stageErr != nil {
		return stageErr // and err, if set, is stageErr or a capture given up for it
	}
	return err
}

// ahead is a captured process whose late pages are planned (matched with
// those earlier processes saved) and, if they fit one read batch, read
// and summed already.
type ahead struct {
	c      *captured
	runs   []span
	same   []sameAt
	buf    []byte  // the pages read ahead (from pageBufs), or nil
	pieces []piece // in buf
}

// readAhead plans c's late pages, read from c itself, and reads them if
// they fit one batch; more are left to copyRuns, which overlaps reading
// and writing them itself. Called for each process in image order.
func readAhead(c *captured, d *dedup) (*ahead, error) {
	a := &ahead{c: c}
	if c.p.Zombie {
		return a, nil
	}
	var err error
	if a.runs, a.same, err = c.lateRuns(c.pid, d); err != nil {
		return nil, err
	}
	if bts := batches(a.runs); len(bts) == 1 {
		buf := getPageBuf()
		b := buf[:bts[0].size]
		if err := readBatch(c.mem, bts[0], b); err != nil {
			putPageBuf(buf)
			return nil, err
		}
		a.buf, a.pieces = buf, cut(bts[0].runs, b)
	}
	return a, nil
}

// write writes the process into w, as emit does.
func (a *ahead) write(w *image.Writer) error {
	defer a.discard()
	c := a.c
	if err := c.emitHead(w); err != nil || c.p.Zombie {
		return err
	}
	if err := writeSame(w, a.same); err != nil {
		return err
	}
	var err error
	if a.buf != nil {
		err = writePieces(w, a.pieces)
	} else {
		err = copyRuns(c.pid, c.mem, c.late, a.runs, w)
	}
	if err != nil {
		return err
	}
	return c.emitFiles(w)
}

// discard gives back what a holds.
func (a *ahead) discard() {
	if a.buf != nil {
		putPageBuf(a.buf)
		a.buf, a.pieces = nil, nil
	}
	a.c.close()
}
