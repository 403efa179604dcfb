package elfcore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"stasis/internal/image"
)

// sigSnapshot is the signal the cores say stopped the process: a
// checkpoint is a stop, not a crash.
const sigSnapshot = 19 // SIGSTOP

// Write reads the image from r and writes DIR/core.PID for each of its
// processes (only for pid, if pid is not 0), and returns their paths.
// The cores appear only once the whole image was read and verified: for a
// damaged image none is left, and no core is ever half-written.
func Write(r io.Reader, dir string, pid int) (paths, notes []string, err error) {
	rd, _, err := image.NewReader(r)
	if err != nil {
		return nil, nil, err
	}
	w := &writer{dir: dir, done: map[int]*core{}, saved: map[int]string{}}
	defer func() {
		if err != nil {
			w.abandon()
		}
		for _, s := range w.saved {
			os.Remove(s)
		}
	}()
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if err := w.record(rd, rec); err != nil {
			return nil, nil, err
		}
	}
	if err := w.finish(); err != nil {
		return nil, nil, err
	}
	for _, c := range w.order {
		if err := c.f.Close(); err != nil {
			return nil, nil, err
		}
	}
	for _, c := range w.order {
		if pid != 0 && c.p.Pid != pid {
			os.Remove(c.tmp)
			continue
		}
		final := filepath.Join(dir, "core."+strconv.Itoa(c.p.Pid))
		if err := os.Rename(c.tmp, final); err != nil {
			return nil, nil, err
		}
		paths = append(paths, final)
		notes = append(notes, c.notes...)
	}
	w.order = nil
	if pid != 0 && len(paths) == 0 {
		return nil, nil, fmt.Errorf("pid %d: not a process of the image", pid)
	}
	return paths, notes, nil
}

type writer struct {
	dir   string
	cur   *core
	done  map[int]*core // by pid, for the pages other processes share
	order []*core
	saved map[int]string // saved file id: a temporary copy of its contents
}

func (w *writer) record(rd *image.Reader, rec image.Record) error {
	switch rec.Type {
	case image.RecProcess:
		p, err := rd.Process()
		if err != nil {
			return err
		}
		if err := w.finish(); err != nil {
			return err
		}
		if p.Zombie {
			return nil
		}
		c, err := newCore(w.dir, p)
		if err != nil {
			return err
		}
		w.cur = c
		w.order = append(w.order, c)
		return nil
	case image.RecPages:
		if w.cur == nil {
			break
		}
		return w.cur.pages(rd, rec.Arg, rec.Len)
	case image.RecSame:
		sm, err := rd.Same()
		if err != nil {
			return err
		}
		if w.cur == nil || w.done[sm.Pid] == nil {
			return fmt.Errorf("pages at %#x: the same as pid %d's, which the image has not given before", rec.Arg, sm.Pid)
		}
		return w.cur.copyFrom(w.done[sm.Pid], rec.Arg, sm.Addr, sm.Len)
	case image.RecSavedFile:
		m, err := rd.SavedFile()
		if err != nil {
			return err
		}
		f, err := os.CreateTemp(w.dir, ".saved.*")
		if err != nil {
			return err
		}
		w.saved[m.ID] = f.Name()
		_, err = io.Copy(f, rd)
		return errors.Join(err, f.Close())
	}
	_, err := io.Copy(io.Discard, rd)
	return err
}

// finish completes the current core: the file-backed ranges the image
// did not hold, from the files.
func (w *writer) finish() error {
	c := w.cur
	if c == nil {
		return nil
	}
	w.cur = nil
	w.done[c.p.Pid] = c
	return c.fillFiles(w.saved)
}

func (w *writer) abandon() {
	for _, c := range w.order {
		c.f.Close()
		os.Remove(c.tmp)
	}
}

// core is one core file being written.
type core struct {
	p       *image.Process
	f       *os.File
	tmp     string
	vmas    []image.VMA // sorted by start
	off     []int64     // file offset of each vma's contents (-1: none)
	covered [][][2]uint64
	notes   []string
}

func newCore(dir string, p *image.Process) (*core, error) {
	vmas := slices.Clone(p.VMAs)
	slices.SortFunc(vmas, func(a, b image.VMA) int {
		if a.Start < b.Start {
			return -1
		}
		return 1
	})
	var notes bytes.Buffer
	threads := slices.Clone(p.Threads)
	slices.SortStableFunc(threads, func(a, b image.Thread) int {
		if a.Tid == p.Pid {
			return -1
		}
		if b.Tid == p.Pid {
			return 1
		}
		return 0
	})
	for i, t := range threads {
		note(&notes, "CORE", ntPrstatus, prstatus(p, &t, sigSnapshot))
		if i == 0 {
			note(&notes, "CORE", ntPrpsinfo, prpsinfo(p, p.Comm))
			note(&notes, "CORE", ntSiginfo, siginfo(sigSnapshot))
			if len(p.MM.Auxv) > 0 {
				note(&notes, "CORE", ntAuxv, p.MM.Auxv)
			}
			note(&notes, "CORE", ntFile, fileNote(vmas))
		}
		if len(t.Xstate) >= 512 {
			note(&notes, "CORE", ntFpregset, t.Xstate[:512])
			note(&notes, "LINUX", ntX86Xstate, t.Xstate)
		}
	}
	const ehsize, phsize = 64, 56
	nph := 1 + len(vmas)
	noteOff := int64(ehsize + phsize*nph)
	data := (noteOff + int64(notes.Len()) + image.PageSize - 1) &^ (image.PageSize - 1)
	c := &core{p: p, vmas: vmas, off: make([]int64, len(vmas)), covered: make([][][2]uint64, len(vmas))}
	var ph bytes.Buffer
	phdr(&ph, 4, 4, noteOff, 0, uint64(notes.Len()), 0, 4) // PT_NOTE
	for i, v := range vmas {
		size := v.End - v.Start
		filesz := size
		if !dumped(v) {
			filesz, c.off[i] = 0, -1
		} else {
			c.off[i] = data
		}
		phdr(&ph, 1, flags(v.Prot), data, v.Start, filesz, size, image.PageSize) // PT_LOAD
		data += int64(filesz)
	}
	f, err := os.CreateTemp(dir, ".core."+strconv.Itoa(p.Pid)+".*")
	if err != nil {
		return nil, err
	}
	c.f, c.tmp = f, f.Name()
	var head bytes.Buffer
	ehdr(&head, nph)
	head.Write(ph.Bytes())
	head.Write(notes.Bytes())
	if _, err := f.WriteAt(head.Bytes(), 0); err != nil {
		return nil, err
	}
	if err := f.Truncate(data); err != nil {
		return nil, err
	}
	if err := c.fillVdso(); err != nil {
		return nil, err
	}
	return c, nil
}

// dumped says whether a mapping's contents go into the core: not the
// kernel's vvar pages and vsyscall page, which no image holds.
func dumped(v image.VMA) bool {
	switch v.Kind {
	case image.VMAVvar, image.VMAVvarVclock, image.VMAVsyscall:
		return false
	}
	return true
}

func flags(prot int) uint32 {
	var f uint32
	if prot&1 != 0 {
		f |= 4 // PF_R
	}
	if prot&2 != 0 {
		f |= 2 // PF_W
	}
	if prot&4 != 0 {
		f |= 1 // PF_X
	}
	return f
}

func ehdr(b *bytes.Buffer, nph int) {
	h := make([]byte, 64)
	copy(h, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	le.PutUint16(h[16:], 4)  // ET_CORE
	le.PutUint16(h[18:], 62) // EM_X86_64
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[32:], 64) // e_phoff
	le.PutUint16(h[52:], 64) // e_ehsize
	le.PutUint16(h[54:], 56) // e_phentsize
	le.PutUint16(h[56:], uint16(nph))
	le.PutUint16(h[58:], 64) // e_shentsize
	b.Write(h)
}

func phdr(b *bytes.Buffer, typ, flags uint32, off int64, vaddr, filesz, memsz, align uint64) {
	h := make([]byte, 56)
	le.PutUint32(h[0:], typ)
	le.PutUint32(h[4:], flags)
	le.PutUint64(h[8:], uint64(off))
	le.PutUint64(h[16:], vaddr)
	le.PutUint64(h[32:], filesz)
	le.PutUint64(h[40:], memsz)
	le.PutUint64(h[48:], align)
	b.Write(h)
}

// find returns the index of the mapping holding addr, or -1.
func (c *core) find(addr uint64) int {
	i, _ := slices.BinarySearchFunc(c.vmas, addr, func(v image.VMA, a uint64) int {
		switch {
		case v.End <= a:
			return -1
		case v.Start > a:
			return 1
		}
		return 0
	})
	if i < len(c.vmas) && c.vmas[i].Start <= addr && addr < c.vmas[i].End {
		return i
	}
	return -1
}

// spans calls fn for each piece of [addr, addr+n) that one mapping holds,
// with the mapping's index and the piece's offset in the core file.
func (c *core) spans(addr, n uint64, fn func(i int, at int64, addr, n uint64) error) error {
	for n > 0 {
		i := c.find(addr)
		if i < 0 || c.off[i] < 0 {
			return fmt.Errorf("pid %d: no mapping with pages at %#x", c.p.Pid, addr)
		}
		k := min(n, c.vmas[i].End-addr)
		if err := fn(i, c.off[i]+int64(addr-c.vmas[i].Start), addr, k); err != nil {
			return err
		}
		addr, n = addr+k, n-k
	}
	return nil
}

// put writes b at addr, mapping by mapping.
func (c *core) put(addr uint64, b []byte) error {
	return c.spans(addr, uint64(len(b)), func(i int, at int64, a, n uint64) error {
		if _, err := c.f.WriteAt(b[a-addr:a-addr+n], at); err != nil {
			return err
		}
		c.covered[i] = append(c.covered[i], [2]uint64{a, a + n})
		return nil
	})
}

// get reads len(b) bytes at addr of this core's process.
func (c *core) get(addr uint64, b []byte) error {
	return c.spans(addr, uint64(len(b)), func(_ int, at int64, a, n uint64) error {
		_, err := c.f.ReadAt(b[a-addr:a-addr+n], at)
		return err
	})
}

func (c *core) pages(r io.Reader, addr, n uint64) error {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, uint64(len(buf)))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			return err
		}
		if err := c.put(addr, buf[:k]); err != nil {
			return err
		}
		addr, n = addr+k, n-k
	}
	return nil
}

func (c *core) copyFrom(src *core, addr, from, n uint64) error {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, uint64(len(buf)))
		if err := src.get(from, buf[:k]); err != nil {
			return err
		}
		if err := c.put(addr, buf[:k]); err != nil {
			return err
		}
		addr, from, n = addr+k, from+k, n-k
	}
	return nil
}
