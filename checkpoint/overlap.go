package checkpoint

import (
	"bytes"
	"fmt"
	"sync"

	"stasis/internal/image"
	"stasis/internal/ptrace"
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
	runs, err := pageRuns(c.pid, c.late)
	if err != nil {
		return nil, err
	}
	if a.runs, a.same, err = d.match(c.pid, c.pid, c.late, runs); err != nil {
		return nil, err
	}
	if bts := batches(a.runs); len(bts) == 1 {
		buf := getPageBuf()
		if a.pieces, err = readPieces(c.mem, bts[0], buf); err != nil {
			putPageBuf(buf)
			return nil, err
		}
		a.buf = buf
	}
	return a, nil
}

// readPieces reads batch bt from mem into buf and cuts it into pieces to
// write, as copyRuns does with each of its batches.
func readPieces(mem *ptrace.Mem, bt batch, buf []byte) ([]piece, error) {
	b := buf[:bt.size]
	n := len(b) / pageSize
	zero, sums := make([]bool, n), make([]uint32, n)
	if err := readBatch(mem, bt, b, zero, sums); err != nil {
		return nil, err
	}
	return cut(bt.runs, b, zero, sums), nil
}

// write writes the process into w, as emit does: its record, its pages,
// its files' contents. (Without snapshots no page was read while it was
// frozen: there are none of emit's early pages.)
func (a *ahead) write(w *image.Writer) error {
	defer a.discard()
	c := a.c
	if err := w.Process(c.p); err != nil || c.p.Zombie {
		return err
	}
	if len(c.early) > 0 || len(c.earlySame) > 0 {
		return fmt.Errorf("pid %d: pages read while frozen, without a snapshot", c.pid)
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
	for _, f := range c.files {
		if err := w.FileData(uint64(f.idx), bytes.NewReader(f.data), int64(len(f.data))); err != nil {
			return fmt.Errorf("pid %d: file contents %d: %w", c.pid, f.idx, err)
		}
	}
	return nil
}

// discard gives back what a holds.
func (a *ahead) discard() {
	if a.buf != nil {
		putPageBuf(a.buf)
		a.buf, a.pieces = nil, nil
	}
	a.c.close()
}
