package checkpoint

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"stasis/internal/trace"
)

// kcmp(KCMP_FILE) results: one open file description, the first's
// ordered before or after the second's, or different with no order.
const (
	kcmpSame = iota
	kcmpBefore
	kcmpAfter
	kcmpUnordered
)

// kcmp is kcmpFile; tests count its calls.
var kcmp = kcmpFile

// kcmpFile compares the open file descriptions of two fds of processes
// of the set.
func kcmpFile(a, b openFd) (int, error) {
	const kcmpFileType = 0 // KCMP_FILE
	trace.Count("kcmp calls", 1)
	r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(a.pid), uintptr(b.pid), kcmpFileType, uintptr(a.fd), uintptr(b.fd), 0)
	if e != 0 {
		return 0, fmt.Errorf("pid %d fd %d and pid %d fd %d: kcmp(KCMP_FILE): %w", a.pid, a.fd, b.pid, b.fd, e)
	}
	return int(r), nil
}

// sameFile says whether two fds of two processes are one open file
// description.
func sameFile(a, b openFd) bool {
	r, err := kcmp(a, b)
	return err == nil && r == kcmpSame
}

// descriptions groups fds (in the set's order) by the open file
// description they are, and returns the groups of more than one fd, each
// in fds's order, so that its first fd is the description's first holder.
//
// Only fds with one link can be one description, so fds are first grouped
// by link (a map: most are alone there, and cost no kcmp at all); the fds
// of one link are then sorted by kcmp's order of their descriptions and
// neighbours compared, about n log n calls where comparing each fd with
// the first holder of every description seen made n²/2 (a process with
// 16 000 fds on /dev/null: 128 million kcmp calls). Where kcmp gives no
// order or fails (a process gone), that link's fds are compared with the
// first holders one by one, as before.
func descriptions(fds []openFd) [][]openFd {
	byLink := map[string][]int{} // indices into fds
	var links []string           // in order of their first fd
	for i, o := range fds {
		if byLink[o.link] == nil {
			links = append(links, o.link)
		}
		byLink[o.link] = append(byLink[o.link], i)
	}
	var groups [][]int
	for _, link := range links {
		idx := byLink[link]
		if len(idx) < 2 {
			continue
		}
		g, ok := sortedDescriptions(fds, idx)
		if !ok {
			g = pairwiseDescriptions(fds, idx)
		}
		for _, one := range g {
			if len(one) > 1 {
				slices.Sort(one)
				groups = append(groups, one)
			}
		}
	}
	slices.SortFunc(groups, func(a, b []int) int { return a[0] - b[0] })
	out := make([][]openFd, len(groups))
	for i, g := range groups {
		for _, j := range g {
			out[i] = append(out[i], fds[j])
		}
	}
	return out
}

// sortedDescriptions groups the fds idx (indices into fds, of one link)
// by description: sorted by kcmp's order of their descriptions, each run
// of one description is a group. It returns false where kcmp gave no
// order or failed.
func sortedDescriptions(fds []openFd, idx []int) ([][]int, bool) {
	ok := true
	order := slices.Clone(idx)
	mergeSort(order, make([]int, len(order)), func(a, b int) int {
		if !ok {
			return 0
		}
		r, err := kcmp(fds[a], fds[b])
		switch {
		case err != nil || r == kcmpUnordered || r > kcmpUnordered:
			ok = false
			return 0
		case r == kcmpBefore:
			return -1
		case r == kcmpAfter:
			return 1
		}
		return 0
	})
	if !ok {
		return nil, false
	}
	var groups [][]int
	run := []int{order[0]}
	for _, i := range order[1:] {
		r, err := kcmp(fds[run[0]], fds[i])
		if err != nil || r == kcmpUnordered || r > kcmpUnordered {
			return nil, false
		}
		if r != kcmpSame {
			groups = append(groups, run)
			run = nil
		}
		run = append(run, i)
	}
	return append(groups, run), true
}

// pairwiseDescriptions groups the fds idx (indices into fds) by
// description by comparing each with the first holder of every
// description found before it: n²/2 kcmp calls at worst, where kcmp
// gives no order. An fd kcmp fails on is a description of its own.
func pairwiseDescriptions(fds []openFd, idx []int) [][]int {
	var groups [][]int
	for _, i := range idx {
		found := false
		for g := range groups {
			if sameFile(fds[groups[g][0]], fds[i]) {
				groups[g] = append(groups[g], i)
				found = true
				break
			}
		}
		if !found {
			groups = append(groups, []int{i})
		}
	}
	return groups
}

// mergeSort sorts s by cmp, with tmp (as long as s) to merge into: at most
// n log2 n comparisons (kcmp calls here), fewer than a quicksort makes,
// and n-1 where s is in order already (each half's last before the
// other's first).
func mergeSort(s, tmp []int, cmp func(a, b int) int) {
	if len(s) < 2 {
		return
	}
	mid := len(s) / 2
	mergeSort(s[:mid], tmp[:mid], cmp)
	mergeSort(s[mid:], tmp[mid:], cmp)
	if cmp(s[mid-1], s[mid]) <= 0 {
		return
	}
	i, j, k := 0, mid, 0
	for i < mid && j < len(s) {
		if cmp(s[i], s[j]) <= 0 {
			tmp[k], i = s[i], i+1
		} else {
			tmp[k], j = s[j], j+1
		}
		k++
	}
	k += copy(tmp[k:], s[i:mid])
	copy(tmp[k:], s[j:])
	copy(s, tmp[:len(s)])
}
