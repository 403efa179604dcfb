package restart

import (
	"fmt"
	"slices"

	"stasis/internal/image"
)

// A vmaIndex finds the image mapping that holds an address in time that
// grows with the logarithm of the number of mappings: every pages record
// is checked against the mappings, and a process may have tens of
// thousands of both (a scan of the mappings per record made a restart of
// 60 000 mappings take 7 s).
type vmaIndex struct {
	vmas    []image.VMA
	byStart []int // indices into vmas, by Start
}

// newVMAIndex indexes vs, which must not change while the index is used.
// It refuses mappings that overlap, which no process has: an image that
// holds them is damaged.
func newVMAIndex(vs []image.VMA) (*vmaIndex, error) {
	x := &vmaIndex{vmas: vs, byStart: make([]int, len(vs))}
	for i := range vs {
		x.byStart[i] = int(i)
	}
	slices.SortFunc(x.byStart, func(i, j int) int {
		switch a, b := vs[i].Start, vs[j].Start; {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	})
	for k := 1; k < len(x.byStart); k++ {
		a, b := &vs[x.byStart[k-1]], &vs[x.byStart[k]]
		if a.End > b.Start {
			return nil, fmt.Errorf("mappings %#x-%#x and %#x-%#x overlap: image damaged", a.Start, a.End, b.Start, b.End)
		}
	}
	return x, nil
}

// find is the mapping that holds all of [addr, addr+n), or nil.
func (x *vmaIndex) find(addr, n uint64) *image.VMA {
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

// vmaOf is the image mapping that holds [addr, addr+n), or nil. mapVMAs
// made the index.
func (b *builder) vmaOf(addr, n uint64) *image.VMA {
	if b.vmas == nil {
		return nil
	}
	return b.vmas.find(addr, n)
}
