package checkpoint

import (
	"testing"

	"stasis/internal/image"
	"stasis/internal/proc"
)

// TestDedupFind: a page is found where the first process that saved it
// put it, by frame or by shared object, never in the process itself, and
// never by the zero page's frame.
func TestDedupFind(t *testing.T) {
	moved := map[uint64]bool{} // frames the earlier process no longer holds
	d := &dedup{zeroPFN: 99, byPFN: map[uint64]pageAt{}, byObj: map[objPage]pageAt{}, register: true,
		confirm: func(_ pageAt, pfn uint64) bool { return !moved[pfn] }}
	anon := &image.VMA{Start: 0x10000, End: 0x20000, Kind: image.VMAAnon}
	shm := &image.VMA{Start: 0x40000, End: 0x50000, Kind: image.VMAShmem, Dev: "00:01", Inode: 7, Offset: 0x2000}
	present := func(pfn uint64) uint64 { return proc.PMPresent | pfn }
	if _, dup := d.find(1, 1, anon, 0x10000, present(5)); dup {
		t.Fatal("first sight of a frame is a duplicate")
	}
	if _, dup := d.find(1, 1, anon, 0x11000, present(5)); dup {
		t.Fatal("a frame mapped twice in one process refers to itself")
	}
	if at, dup := d.find(2, 2, anon, 0x18000, present(5)); !dup || at != (pageAt{1, 0x10000, 1}) {
		t.Fatalf("frame 5 in pid 2: %v %v, want pid 1 at 0x10000", at, dup)
	}
	d.find(1, 1, anon, 0x12000, present(99))
	if _, dup := d.find(2, 2, anon, 0x12000, present(99)); dup {
		t.Fatal("the zero page's frame was taken for a saved page")
	}
	d.find(1, 1, shm, 0x41000, 0) // object page 3, not present
	other := &image.VMA{Start: 0x80000, End: 0x90000, Kind: image.VMAShmem, Dev: "00:01", Inode: 7}
	if at, dup := d.find(2, 2, other, 0x83000, 0); !dup || at != (pageAt{1, 0x41000, 1}) {
		t.Fatalf("page 3 of the shared object in pid 2: %v %v, want pid 1 at 0x41000", at, dup)
	}
	// A frame the first process no longer holds is not trusted, and the
	// page that shows it now is remembered in its place.
	d.find(1, 1, anon, 0x13000, present(8))
	moved[8] = true
	if _, dup := d.find(2, 2, anon, 0x19000, present(8)); dup {
		t.Fatal("a frame the earlier process no longer holds was taken for its page")
	}
	moved[8] = false
	if at, dup := d.find(3, 3, anon, 0x1a000, present(8)); !dup || at != (pageAt{2, 0x19000, 2}) {
		t.Fatalf("frame 8 in pid 3: %v %v, want pid 2 at 0x19000", at, dup)
	}
	// A frame mapped by one page alone is in no other process: it is
	// neither looked up nor remembered.
	d.find(1, 1, anon, 0x14000, present(9)|proc.PMExclusive)
	if _, dup := d.find(2, 2, anon, 0x1b000, present(9)); dup {
		t.Fatal("a frame mapped exclusively by pid 1 was remembered")
	}
	if at, dup := d.find(3, 3, anon, 0x1c000, present(9)|proc.PMExclusive); dup {
		t.Fatalf("an exclusively mapped frame was taken for pid 2's page at %#x", at.addr)
	}
	if len(d.byPFN) != 3 {
		t.Fatalf("%d frames remembered, want 3 (5, 8, and pid 2's 9)", len(d.byPFN))
	}
	d.register = false
	d.find(3, 3, anon, 0x10000, present(6))
	if _, dup := d.find(4, 4, anon, 0x10000, present(6)); dup {
		t.Fatal("a page was remembered although register was off")
	}
}

// BenchmarkDedupRegister: the cost of remembering the pages of a process
// for those after it, per page.
func BenchmarkDedupRegister(b *testing.B) {
	d := newDedup(b.N)
	d.register = true
	v := &image.VMA{Start: 0, End: 1 << 40, Kind: image.VMAAnon}
	for i := 0; i < b.N; i++ {
		d.find(1, 1, v, uint64(i)*pageSize, proc.PMPresent|uint64(i*7919+1))
	}
}
