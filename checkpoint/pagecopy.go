package checkpoint

import (
	"bytes"
	"sync"

	"stasis/internal/image"
	"stasis/internal/ptrace"
)

// A batch is runs of pages read together, up to chunk bytes, through
// /proc/PID/mem. Not process_vm_readv, but for runs of pages the process
// alone maps (span.own): it pins the pages it reads, and the kernel
// unshares (copies) a copy-on-write page before pinning it, so reading a
// snapshot, or a process whose pages a fork still shares, would copy every
// such page in the process read from: slower (measured: a --run
// checkpoint of 1 GiB took 0.70-1.29 s that way, 0.46-0.61 s this way),
// and a frozen process would come out of a checkpoint holding its own
// copies of what it shared with its children. Where nothing is shared it
// copies nothing, and reads 1 GiB in 0.21-0.26 s of CPU here against
// 0.28-0.33 s through /proc/PID/mem.
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
// buffers, finding their zero pages and summing the others as it reads
// (readBatch), while the caller writes the last one: reading, summing and
// writing overlap, and nothing is copied but by the kernel.
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
			n := len(b) / pageSize
			zero, sums := make([]bool, n), make([]uint32, n)
			err := readBatch(mem, bt, b, zero, sums)
			var ps []piece
			if err == nil {
				ps = cut(bt.runs, b, zero, sums)
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

// inCache is how much is read into a buffer at a time: little enough to
// be still in the core's cache (512 KiB of L2 here) when its pages are
// told zero or not and summed right after the read, so that the sums cost
// no second trip to memory. Measured on 1 GiB read from a process, summed
// and written to tmpfs by one thread, on a busy machine: 0.74-0.94 s of
// CPU in reads of 256 KiB or 1 MiB, 0.79-1.10 s in reads of 8 MiB summed
// after.
const inCache = 256 << 10

// readBatch reads the runs of bt from process memory into b, inCache bytes
// at a time, and scans each stretch as soon as it is read: zero[i] says
// whether page i of b is all zeros, and sums[i] is the PageSum of each
// page that is not.
func readBatch(mem *ptrace.Mem, bt batch, b []byte, zero []bool, sums []uint32) error {
	off := uint64(0)
	for _, r := range bt.runs {
		for a := r.start; a < r.end; {
			n := min(r.end-a, inCache)
			var err error
			if r.own {
				err = mem.ReadOwnAt(b[off:off+n], a)
			} else {
				err = mem.ReadAt(b[off:off+n], a)
			}
			if err != nil {
				return err
			}
			i, j := off/pageSize, (off+n)/pageSize
			scan(b[off:off+n], zero[i:j], sums[i:j])
			a, off = a+n, off+n
		}
	}
	return nil
}

var zeroPage = make([]byte, pageSize)

// scan tells the zero pages of b from the others, and sums those (see
// readBatch).
func scan(b []byte, zero []bool, sums []uint32) {
	for i := range zero {
		p := b[i*pageSize : (i+1)*pageSize]
		if zero[i] = bytes.Equal(p, zeroPage); !zero[i] {
			sums[i] = image.PageSum(p)
		}
	}
}

// A piece is a run of non-zero pages ready to be written: its address, its
// bytes, and the sum of each page (image.PageSum).
type piece struct {
	addr uint64
	b    []byte
	sums []uint32
}

// cut splits runs, held in b one after another and scanned into zero and
// sums (see readBatch), into pieces of non-zero pages.
func cut(runs []span, b []byte, zero []bool, sums []uint32) []piece {
	var out []piece
	pg := 0 // b's first page of r
	for _, r := range runs {
		end := pg + int((r.end-r.start)/pageSize)
		for i := pg; i < end; {
			if zero[i] {
				i++
				continue
			}
			first := i
			for i < end && !zero[i] {
				i++
			}
			out = append(out, piece{addr: r.start + uint64(first-pg)*pageSize,
				b: b[first*pageSize : i*pageSize], sums: sums[first:i:i]})
		}
		pg = end
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
