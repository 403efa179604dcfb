package checkpoint

import (
	"bytes"
	"sync"

	"stasis/internal/image"
	"stasis/internal/ptrace"
)

// A batch is runs of pages read together, up to chunk bytes, through
// /proc/PID/mem. Not process_vm_readv: it pins the pages it reads, and the
// kernel unshares (copies) a copy-on-write page before pinning it, so
// reading a snapshot, or a process whose pages a fork still shares, would
// copy every such page in the process read from: slower (measured: a
// --run checkpoint of 1 GiB took 0.70-1.29 s that way, 0.46-0.61 s this
// way), and a frozen process would come out of a checkpoint holding its
// own copies of what it shared with its children.
type batch struct {
	runs []span
	size uint64
}

// batches groups runs into batches.
func batches(runs []span) []batch {
	var out []batch
	var cur batch
	for _, r := range runs {
		n := r.end - r.start
		if len(cur.runs) > 0 && cur.size+n > chunk {
			out = append(out, cur)
			cur = batch{}
		}
		cur.runs = append(cur.runs, r)
		cur.size += n
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
	bts := batches(runs)
	// The buffers come from pageBufs and go back to it, so a tree of
	// processes reuses the same few: a fresh one costs the kernel's page
	// faults and the runtime's zeroing, as much as reading it again.
	free := make(chan []byte, depth)
	made := 0
	full := make(chan filled, depth)
	stop := make(chan struct{})
	done := make(chan struct{})
	defer func() {
		close(stop)
		<-done
		for {
			select {
			case b := <-free:
				putPageBuf(b)
			default:
				return
			}
		}
	}()
	go func() {
		defer close(done)
		defer close(full)
		for _, bt := range bts {
			var buf []byte
			if made < min(depth, len(bts)) {
				buf, made = getPageBuf(), made+1
			} else {
				select {
				case buf = <-free:
				case <-stop:
					return
				}
			}
			b := buf[:bt.size]
			err := readBatch(mem, bt, b)
			var ps []piece
			if err == nil {
				ps = cut(bt.runs, b)
			}
			select {
			case full <- filled{b, ps, err}:
			case <-stop:
				putPageBuf(buf)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for f := range full {
		if f.err != nil {
			putPageBuf(f.b)
			return f.err
		}
		err := writePieces(w, f.pieces)
		free <- f.b[:cap(f.b)]
		if err != nil {
			return err
		}
	}
	return nil
}

// pageBufs holds read buffers of chunk bytes between copies.
var pageBufs sync.Pool

func getPageBuf() []byte {
	if b, ok := pageBufs.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, chunk)
}

func putPageBuf(b []byte) {
	b = b[:cap(b)]
	pageBufs.Put(&b)
}

// readBatch reads the runs of bt from process src into b.
func readBatch(mem *ptrace.Mem, bt batch, b []byte) error {
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
