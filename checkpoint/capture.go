package checkpoint

import (
	"bytes"
	"fmt"

	"stasis/internal/image"
	"stasis/internal/ptrace"
)

// captured is what was read of a process while it was frozen: its record,
// its files' contents, and the pages a fork does not copy (see early).
// The rest of its pages (late) are read when the image is written: from
// the process itself if it is still frozen, or from its snapshot.
type captured struct {
	pid   int
	p     *image.Process
	mem   *ptrace.Mem // the process's memory
	files []fileBytes
	early []span // pages read while frozen, in earlyBuf one after another
	// earlyBuf holds them; earlyZero and earlySums say which of its
	// pages are zeros, and the sums of the others (see readBatch).
	earlyBuf  []byte
	earlyZero []bool
	earlySums []uint32
	// earlySame are the pages of early mappings that earlier processes
	// saved (see dedup), found while frozen.
	earlySame []sameAt
	late      []image.VMA // mappings whose pages are still to read
}

// forkCopied says whether a fork gives the child a copy of v's pages as
// they are now: not for shared memory (the child shares it, and sees what
// the process writes next), nor for mappings marked MADV_DONTFORK (absent
// in the child, VmFlags "dc") or MADV_WIPEONFORK (zeros in the child,
// "wf").
func forkCopied(v *image.VMA, flags []string) bool {
	if v.Shared || v.Kind == image.VMAShmem || v.Kind == image.VMASysv {
		return false
	}
	for _, f := range flags {
		if f == "dc" || f == "wf" {
			return false
		}
	}
	return true
}

// readEarly reads, while the process is frozen, the wanted pages of the
// mappings a fork does not copy, but those d finds an earlier process
// saved; the other mappings are left in c.late.
func (c *captured) readEarly(vs []image.VMA, flags map[uint64][]string, d *dedup) error {
	var early []image.VMA
	c.late = nil
	for _, v := range vs {
		if forkCopied(&v, flags[v.Start]) {
			c.late = append(c.late, v)
		} else {
			early = append(early, v)
		}
	}
	if len(early) == 0 {
		return nil
	}
	runs, err := pageRuns(c.pid, early)
	if err != nil {
		return err
	}
	if runs, c.earlySame, err = d.match(c.pid, c.pid, early, runs); err != nil {
		return err
	}
	var size uint64
	for _, r := range runs {
		size += r.end - r.start
	}
	c.early, c.earlyBuf = runs, make([]byte, size)
	c.earlyZero, c.earlySums = make([]bool, size/pageSize), make([]uint32, size/pageSize)
	off := uint64(0)
	for _, bt := range batches(runs) {
		i, j := off/pageSize, (off+bt.size)/pageSize
		if err := readBatch(c.mem, bt, c.earlyBuf[off:off+bt.size], c.earlyZero[i:j], c.earlySums[i:j]); err != nil {
			return err
		}
		off += bt.size
	}
	return nil
}

// emit writes the process into w: its record, its pages (those read while
// it was frozen, then the rest from snap if it has one, else from the
// process, which must still be frozen), but those d finds an earlier
// process saved, and its files' contents.
func (c *captured) emit(w *image.Writer, snap *snapshot, d *dedup) error {
	defer c.close()
	if err := w.Process(c.p); err != nil {
		return err
	}
	if c.p.Zombie {
		return nil
	}
	if err := writeSame(w, c.earlySame); err != nil {
		return err
	}
	if err := writePieces(w, cut(c.early, c.earlyBuf, c.earlyZero, c.earlySums)); err != nil {
		return err
	}
	c.earlyBuf, c.earlyZero, c.earlySums = nil, nil, nil
	src, mem := c.pid, c.mem
	if snap != nil {
		src, mem = snap.pid, snap.mem
	}
	runs, err := pageRuns(src, c.late)
	if err != nil {
		return err
	}
	runs, same, err := d.match(c.pid, src, c.late, runs)
	if err != nil {
		return err
	}
	if err := writeSame(w, same); err != nil {
		return err
	}
	if err := copyRuns(src, mem, c.late, runs, w); err != nil {
		return err
	}
	for _, f := range c.files {
		if err := w.FileData(uint64(f.idx), bytes.NewReader(f.data), int64(len(f.data))); err != nil {
			return fmt.Errorf("pid %d: file contents %d: %w", c.pid, f.idx, err)
		}
	}
	return nil
}

func (c *captured) close() {
	if c != nil && c.mem != nil {
		c.mem.Close()
		c.mem = nil
	}
}
