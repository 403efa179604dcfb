package checkpoint

import (
	"math"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDescriptions: fds of this process on /dev/null, some dup'd, are
// grouped by open file description exactly, with about n log n kcmp
// calls, not n²/2.
func TestDescriptions(t *testing.T) {
	const n = 2000
	pid := os.Getpid()
	var fds []openFd
	want := map[int]int{} // fd -> the first fd of its description
	defer func() {
		for _, o := range fds {
			unix.Close(o.fd)
		}
	}()
	for i := 0; i < n; i++ {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, openFd{pid: pid, fd: fd, link: "/dev/null"})
		want[fd] = fd
		if i%7 == 0 { // a description with two more fds
			for range 2 {
				d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				fds = append(fds, openFd{pid: pid, fd: d, link: "/dev/null"})
				want[d] = fd
			}
		}
	}
	// One fd of another link, alone.
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fds = append(fds, openFd{pid: pid, fd: fd, link: "/"})
	want[fd] = fd
	slices.SortFunc(fds, func(a, b openFd) int { return a.fd - b.fd })

	calls := 0
	defer func(k func(a, b openFd) (int, error)) { kcmp = k }(kcmp)
	count := kcmp
	kcmp = func(a, b openFd) (int, error) { calls++; return count(a, b) }

	got := map[int]int{}
	for _, o := range fds {
		got[o.fd] = o.fd
	}
	prev := -1
	for _, g := range descriptions(fds) {
		if g[0].fd <= prev {
			t.Errorf("group of fd %d after that of fd %d: not in the order of first holders", g[0].fd, prev)
		}
		prev = g[0].fd
		for _, o := range g[1:] {
			if o.fd < g[0].fd {
				t.Errorf("fd %d in the group of fd %d, which comes after it", o.fd, g[0].fd)
			}
			got[o.fd] = g[0].fd
		}
	}
	for fd, w := range want {
		if got[fd] != w {
			t.Errorf("fd %d: grouped with fd %d, one description with fd %d", fd, got[fd], w)
		}
	}
	limit := int(3 * float64(len(fds)) * math.Log2(float64(len(fds))))
	t.Logf("%d fds: %d kcmp calls (n log n: %d, n²/2: %d)", len(fds), calls, limit/3, len(fds)*len(fds)/2)
	if calls > limit {
		t.Errorf("%d fds: %d kcmp calls, more than 3 n log n (%d)", len(fds), calls, limit)
	}
}

// TestMergeSort: mergeSort sorts, with no more than n log2 n comparisons,
// and n-1 for a slice in order.
func TestMergeSort(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 10, 1000, 4097} {
		s := make([]int, n)
		x := uint32(n + 1)
		for i := range s {
			x = x*1664525 + 1013904223
			s[i] = int(x>>8) % (n + 1)
		}
		want := slices.Sorted(slices.Values(s))
		calls := 0
		cmp := func(a, b int) int { calls++; return a - b }
		mergeSort(s, make([]int, n), cmp)
		if !slices.Equal(s, want) {
			t.Fatalf("%d: not sorted: %v", n, s)
		}
		if limit := float64(n) * math.Log2(float64(max(n, 1))); float64(calls) > limit+1 {
			t.Errorf("%d: %d comparisons, more than n log2 n (%.0f)", n, calls, limit)
		}
		calls = 0
		mergeSort(s, make([]int, n), cmp)
		if calls > max(n-1, 0) {
			t.Errorf("%d in order: %d comparisons, want at most %d", n, calls, max(n-1, 0))
		}
	}
}
