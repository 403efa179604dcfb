package checkpoint

import (
	"bytes"

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
// buffers, finds their zero pages and sums the others, while the caller
// writes the last one: reading, summing and writing overlap, and nothing
// is copied but by the kernel.
func copyRuns(src int, mem *ptrace.Mem, vs []image.VMA, runs []span, w *image.Writer) error {
	type filled struct {
		b      []byte
		pieces []piece
		err    error
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
			var ps []piece
			if err == nil {
				ps = cut(bt.runs, b)
			}
			select {
			case full <- filled{b, ps, err}:
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
		if err := writePieces(w, f.pieces); err != nil {
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

// A piece is a run of non-zero pages ready to be written: its address, its
// bytes, and the sum of each page (image.PageSum).
type piece struct {
	addr uint64
	b    []byte
	sums []uint32
}

var zeroPage = make([]byte, pageSize)

// cut splits runs, held in b one after another, into pieces of non-zero
// pages, and sums them.
func cut(runs []span, b []byte) []piece {
	var out []piece
	sums := make([]uint32, 0, len(b)/pageSize)
	off := 0
	for _, r := range runs {
		end := off + int(r.end-r.start)
		for i := off; i < end; {
			if bytes.Equal(b[i:i+pageSize], zeroPage) {
				i += pageSize
				continue
			}
			p := piece{addr: r.start + uint64(i-off)}
			first, n := i, len(sums)
			for ; i < end && !bytes.Equal(b[i:i+pageSize], zeroPage); i += pageSize {
				sums = append(sums, image.PageSum(b[i:i+pageSize]))
			}
			p.b, p.sums = b[first:i], sums[n:len(sums):len(sums)]
			out = append(out, p)
		}
		off = end
	}
	return out
}

// writePieces writes pieces into w, one record each.
func writePieces(w *image.Writer, ps []piece) error {
	for _, p := range ps {
		if err := w.PagesSummed(p.addr, p.b, p.sums); err != nil {
			return err
		}
	}
	return nil
}
