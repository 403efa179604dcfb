package checkpoint

import (
	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/ptrace"
)

// A batch is runs of pages read together: up to chunk bytes, with one
// process_vm_readv per 1024 runs, or through /proc/PID/mem (force) for
// runs in mappings without PROT_READ, which process_vm_readv cannot read.
type batch struct {
	runs  []span
	size  uint64
	force bool
}

// batches groups runs, which lie in the VMAs vs in the same order, into
// batches.
func batches(vs []image.VMA, runs []span) []batch {
	var out []batch
	var cur batch
	i := 0
	for _, r := range runs {
		for i < len(vs) && vs[i].End <= r.start {
			i++
		}
		force := i < len(vs) && vs[i].Prot&unix.PROT_READ == 0
		n := r.end - r.start
		if len(cur.runs) > 0 && (cur.force != force || cur.size+n > chunk) {
			out = append(out, cur)
			cur = batch{}
		}
		cur.runs = append(cur.runs, r)
		cur.size += n
		cur.force = force
	}
	if len(cur.runs) > 0 {
		out = append(out, cur)
	}
	return out
}

// copyRuns streams the non-zero pages of runs into w, read from process
// src (mem is its /proc/PID/mem). A goroutine reads batches into a few
// buffers while the caller writes the last one, so reading and writing
// overlap without copying.
func copyRuns(src int, mem *ptrace.Mem, vs []image.VMA, runs []span, w *image.Writer) error {
	type filled struct {
		batch
		b   []byte
		err error
	}
	const depth = 3
	free := make(chan []byte, depth)
	for i := 0; i < depth; i++ {
		free <- make([]byte, chunk)
	}
	full := make(chan filled, depth)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(full)
		for _, bt := range batches(vs, runs) {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			b := buf[:bt.size]
			err := readBatch(src, mem, bt, b)
			select {
			case full <- filled{bt, b, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for f := range full {
		if f.err != nil {
			return f.err
		}
		if err := writeRuns(w, f.runs, f.b); err != nil {
			return err
		}
		free <- f.b[:cap(f.b)]
	}
	return nil
}

// readBatch reads the runs of bt from process src into b.
func readBatch(src int, mem *ptrace.Mem, bt batch, b []byte) error {
	if bt.force {
		off := uint64(0)
		for _, r := range bt.runs {
			n := r.end - r.start
			if err := mem.ReadAt(b[off:off+n], r.start); err != nil {
				return err
			}
			off += n
		}
		return nil
	}
	spans := make([]ptrace.Span, len(bt.runs))
	for i, r := range bt.runs {
		spans[i] = ptrace.Span{Start: r.start, End: r.end}
	}
	return ptrace.ReadSpans(src, spans, b)
}

// writeRuns writes the non-zero pages of runs, held in b one after another.
func writeRuns(w *image.Writer, runs []span, b []byte) error {
	off := uint64(0)
	for _, r := range runs {
		n := r.end - r.start
		if err := writeNonZero(w, r.start, b[off:off+n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}
