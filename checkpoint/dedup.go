package checkpoint

import (
	"fmt"

	"stasis/internal/image"
	"stasis/internal/proc"
)

// dedup stores once the pages that processes of one image share: the
// pages a fork left shared copy-on-write, found by their physical frame
// (pagemap's PFN, which the kernel shows to CAP_SYS_ADMIN only), and the
// pages of a shared memory object that several processes map, found by
// the object and the page's offset in it (whoever checkpoints). A page
// already saved by an earlier process becomes a RecSame record that
// points at it, and is not even read.
//
// No content hashing is done: without PFNs a page would have to be read
// and hashed before it could be skipped, which costs more checkpoint
// time than the image size it saves (see README, "Deduplication").
type dedup struct {
	zeroPFN  uint64 // the kernel's zero page: shared by all, never stored
	byPFN    map[uint64]pageAt
	byObj    map[objPage]pageAt
	last     int  // the pid of the image's last process: no one looks for its pages
	register bool // remember this process's pages for the processes after it
	ents     []uint64
	sources  map[int]*proc.Pagemap            // pagemaps of the processes pages were saved from, to check a match
	win      window                           // entries of a source's pagemap, read for the current run
	confirm  func(at pageAt, pfn uint64) bool // stillAt; tests replace it
}

// pageAt is a page of a process of the image; pm is the process whose
// pagemap showed it (the process, or its snapshot).
type pageAt struct {
	pid  int
	addr uint64
	pm   int
}

// window is entries of the pagemap of process pm from address start on.
type window struct {
	pm    int
	start uint64
	ents  []uint64
}

// winPages bounds a window: the pages of an earlier process that a run of
// a later one shares lie mostly one after another, so one read serves many.
const winPages = 512

// objPage is a page of a shared memory object: the object's device and
// inode, and the page's number in it.
type objPage struct {
	dev string
	ino uint64
	n   uint64
}

// newDedup makes room for about pages pages to remember.
func newDedup(pages int) *dedup {
	return &dedup{zeroPFN: proc.ZeroPFN(), byPFN: make(map[uint64]pageAt, pages), byObj: map[objPage]pageAt{}}
}

// newDedup makes the dedup of the set's processes, with room for the
// pages of all but the last (which no process after it looks for).
func (s *Set) newDedup() *dedup {
	n, last := 0, 0
	if len(s.procs) > 0 {
		last = s.procs[len(s.procs)-1].pid
	}
	for _, f := range s.procs[:max(len(s.procs)-1, 0)] {
		if rss, err := proc.ResidentBytes(f.pid); err == nil {
			n += int(rss / pageSize)
		}
	}
	d := newDedup(min(n, 1<<20)) // a hint: beyond it the map grows
	d.last = last
	return d
}

// sameAt is a RecSame record to write: the pages at addr are those an
// earlier process saved.
type sameAt struct {
	addr uint64
	same image.Same
}

func writeSame(w *image.Writer, same []sameAt) error {
	for _, s := range same {
		if err := w.Same(s.addr, s.same); err != nil {
			return err
		}
	}
	return nil
}

// match takes the runs of pages of pid that are to be saved, finds each
// stretch that an earlier process already saved, and returns the runs left
// to read and the RecSame records to write for the others (written apart,
// so that pages read while the processes are frozen are matched with the
// frames they had then, and their records written after the process's).
// It reads the pagemap of process pm: pid, or its snapshot. A nil dedup
// skips nothing.
func (d *dedup) match(pid, pm int, vs []image.VMA, runs []span) ([]span, []sameAt, error) {
	if d == nil {
		return runs, nil, nil
	}
	d.register = pid != d.last
	if len(runs) == 0 || !d.register && len(d.byPFN) == 0 && len(d.byObj) == 0 {
		return runs, nil, nil // nothing to find, nothing to remember
	}
	ix, err := image.NewVMAIndex(vs)
	if err != nil {
		return nil, nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	pmf, err := proc.OpenPagemap(pm)
	if err != nil {
		return nil, nil, err
	}
	defer pmf.Close()
	var out []span
	var sames []sameAt
	for _, r := range runs {
		v := ix.Find(r.start, 1)
		if v == nil {
			return nil, nil, fmt.Errorf("pid %d: pages at %#x: in no mapping", pid, r.start)
		}
		if d.ents, err = pmf.Read(r.start, r.end, d.ents); err != nil {
			return nil, nil, err
		}
		d.win.pm = 0    // read the sources again, after this run's entries
		keep := r.start // the first page of the run not yet known to be a duplicate
		var same image.Same
		var at uint64
		flush := func() {
			if same.Len > 0 {
				sames = append(sames, sameAt{at, same})
				same = image.Same{}
			}
		}
		for i, e := range d.ents {
			addr := r.start + uint64(i)*pageSize
			from, dup := d.find(pid, pm, v, addr, e)
			if !dup {
				flush()
				continue
			}
			if keep < addr {
				out = append(out, span{keep, addr, r.own})
			}
			keep = addr + pageSize
			if same.Len > 0 && same.Pid == from.pid && same.Addr+same.Len == from.addr {
				same.Len += pageSize
				continue
			}
			flush()
			same, at = image.Same{Pid: from.pid, Addr: from.addr, Len: pageSize}, addr
		}
		flush()
		if keep < r.end {
			out = append(out, span{keep, r.end, r.own})
		}
	}
	return out, sames, nil
}

// find says where an earlier process saved the page at addr of v (whose
// pagemap entry is e); if none did, it remembers this one. A frame that
// only this process maps (PM_MMAP_EXCLUSIVE) is neither looked for nor
// remembered: no earlier process holds it, and no later one will, for
// every process read from is frozen (or a snapshot) until all are
// written. That is every page of processes that share none, which then
// cost no map lookups.
func (d *dedup) find(pid, pm int, v *image.VMA, addr, e uint64) (pageAt, bool) {
	here := pageAt{pid, addr, pm}
	if pfn := e & proc.PMPFNMask; e&proc.PMPresent != 0 && e&proc.PMExclusive == 0 && pfn != 0 && pfn != d.zeroPFN {
		at, ok := d.byPFN[pfn]
		if ok && at.pid != pid && d.confirmed(at, pfn) {
			return at, true
		}
		if !ok || at.pid != pid {
			// A frame number names a page only while the page holds the
			// frame: one the earlier process no longer has (migrated,
			// swapped, freed) may be any page now.
			if d.register {
				d.byPFN[pfn] = here
			} else {
				delete(d.byPFN, pfn)
			}
		}
	}
	if v.Kind == image.VMAShmem || v.Kind == image.VMASysv {
		obj := objPage{v.Dev, v.Inode, (v.Offset + addr - v.Start) / pageSize}
		if at, ok := d.byObj[obj]; !ok {
			if d.register {
				d.byObj[obj] = here
			}
		} else if at.pid != pid {
			return at, true
		}
	}
	return pageAt{}, false
}

func (d *dedup) confirmed(at pageAt, pfn uint64) bool {
	if d.confirm != nil {
		return d.confirm(at, pfn)
	}
	return d.stillAt(at, pfn)
}

// stillAt says whether the page an earlier process saved at at.addr is
// still frame pfn in it (or its snapshot, which never runs): then the
// page that shows pfn now holds what was saved. Both entries are read at
// this moment, so a frame that moved since cannot be taken for another.
func (d *dedup) stillAt(at pageAt, pfn uint64) bool {
	pm := d.sources[at.pm]
	if pm == nil {
		var err error
		if pm, err = proc.OpenPagemap(at.pm); err != nil {
			return false
		}
		if d.sources == nil {
			d.sources = map[int]*proc.Pagemap{}
		}
		d.sources[at.pm] = pm
	}
	w := &d.win
	if w.pm != at.pm || at.addr < w.start || at.addr >= w.start+uint64(len(w.ents))*pageSize {
		var err error
		w.pm, w.start = at.pm, at.addr
		if w.ents, err = pm.Read(at.addr, at.addr+winPages*pageSize, w.ents); err != nil {
			// Near the end of the address space: this page alone.
			if w.ents, err = pm.Read(at.addr, at.addr+pageSize, w.ents); err != nil {
				w.pm = 0
				return false
			}
		}
	}
	e := w.ents[(at.addr-w.start)/pageSize]
	return e&proc.PMPresent != 0 && e&proc.PMPFNMask == pfn
}

// close closes the pagemaps stillAt opened. A nil dedup has none.
func (d *dedup) close() {
	if d == nil {
		return
	}
	for _, pm := range d.sources {
		pm.Close()
	}
	d.sources = nil
}
