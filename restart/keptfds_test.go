package restart

import (
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// TestKeptFds: a forked child keeps exactly the fds that share the
// description of its parent's fd of the same number, whoever owns it, and
// is told where close-on-exec differs.
func TestKeptFds(t *testing.T) {
	ref := func(pid, fd int) *image.FdRef { return &image.FdRef{Pid: pid, Fd: fd} }
	parent := &image.Process{Pid: 10, Fds: []image.Fd{
		{Num: 0, Kind: image.FdStdio},                     // owner
		{Num: 1, Kind: image.FdShared, SameAs: ref(1, 1)}, // owned by the grandparent
		{Num: 3, Kind: image.FdFile, Path: "/a", Flags: unix.O_CLOEXEC},
		{Num: 4, Kind: image.FdPipe},
		{Num: 5, Kind: image.FdShared, SameAs: ref(10, 3)}, // a dup of its own fd 3
	}}
	child := &image.Process{Pid: 11, Fds: []image.Fd{
		{Num: 0, Kind: image.FdShared, SameAs: ref(10, 0)},                        // kept
		{Num: 1, Kind: image.FdShared, SameAs: ref(1, 1)},                         // kept: the same owner
		{Num: 3, Kind: image.FdShared, SameAs: ref(10, 3)},                        // kept, close-on-exec cleared
		{Num: 4, Kind: image.FdPipe},                                              // per end: made again
		{Num: 5, Kind: image.FdShared, SameAs: ref(10, 3), Flags: unix.O_CLOEXEC}, // kept: the parent's 5 is its 3
		{Num: 6, Kind: image.FdShared, SameAs: ref(10, 0)},                        // another number: passed
		{Num: 7, Kind: image.FdShared, SameAs: ref(11, 3)},                        // its own dup
		{Num: 8, Kind: image.FdFile, Path: "/a"},                                  // its own open
	}}
	got := keptFds(parent, child)
	want := map[int]bool{0: false, 1: false, 3: true, 5: true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

// TestCloseExcept: the closes queued cover every fd of the range but
// those kept, in as few close_range calls as there are runs between them.
func TestCloseExcept(t *testing.T) {
	for _, c := range []struct {
		lo, hi uint64
		keep   []uint64
		want   [][2]uint64
	}{
		{3, 100, nil, [][2]uint64{{3, 100}}},
		{0, 9, []uint64{0, 1, 2}, [][2]uint64{{3, 9}}},
		{0, 9, []uint64{0, 4, 9, 20}, [][2]uint64{{1, 3}, {5, 8}}},
		{3, 100, []uint64{1, 3, 4, 50}, [][2]uint64{{5, 49}, {51, 100}}},
		{0, 2, []uint64{0, 1, 2}, nil},
	} {
		b := &builder{}
		b.closeExcept(c.lo, c.hi, c.keep)
		var got [][2]uint64
		for _, q := range b.queue {
			if q.c.nr != unix.SYS_CLOSE_RANGE {
				t.Fatalf("queued call %d", q.c.nr)
			}
			got = append(got, [2]uint64{q.c.args[0], q.c.args[1]})
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("closeExcept(%d, %d, %v) = %v, want %v", c.lo, c.hi, c.keep, got, c.want)
		}
	}
}
