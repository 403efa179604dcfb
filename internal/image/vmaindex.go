package image

import (
	"cmp"
	"fmt"
	"slices"
)

// A VMAIndex finds the mapping that holds an address in time that grows
// with the logarithm of the number of mappings: a checkpoint and a restart
// look up the mapping of every run or record of pages, and a process may
// have tens of thousands of both (a scan of the mappings per record made
// a restart of 60 000 mappings take 7 s).
type VMAIndex struct {
	vmas    []VMA
	byStart []int // indices into vmas, by Start
}

// NewVMAIndex indexes vs, which must not change while the index is used.
// It refuses mappings that overlap, which no process has: an image that
// holds them is damaged.
func NewVMAIndex(vs []VMA) (*VMAIndex, error) {
	x := &VMAIndex{vmas: vs, byStart: make([]int, len(vs))}
	for i := range vs {
		x.byStart[i] = i
	}
	slices.SortFunc(x.byStart, func(i, j int) int { return cmp.Compare(vs[i].Start, vs[j].Start) })
	for k := 1; k < len(x.byStart); k++ {
		a, b := &vs[x.byStart[k-1]], &vs[x.byStart[k]]
		if a.End > b.Start {
			return nil, fmt.Errorf("mappings %#x-%#x and %#x-%#x overlap: image damaged", a.Start, a.End, b.Start, b.End)
		}
	}
	return x, nil
}

// Find is the mapping that holds all of [addr, addr+n), or nil.
func (x *VMAIndex) Find(addr, n uint64) *VMA {
	if addr+n <= addr {
		return nil
	}
	// The last mapping that starts at or below addr is the only one that
	// can hold it, since none overlap.
	k, _ := slices.BinarySearchFunc(x.byStart, addr, func(i int, a uint64) int {
		if x.vmas[i].Start <= a {
			return -1
		}
		return 1
	})
	if k == 0 {
		return nil
	}
	v := &x.vmas[x.byStart[k-1]]
	if addr+n > v.End {
		return nil
	}
	return v
}
