package restart

import (
	"math/rand/v2"
	"testing"

	"stasis/internal/image"
)

// TestVMAIndex checks find against a scan of the mappings, for mappings
// given out of order, with gaps, and ranges that start or end outside them.
func TestVMAIndex(t *testing.T) {
	var vs []image.VMA
	for a := uint64(0x10000); len(vs) < 500; {
		size := uint64(1+rand.IntN(4)) * pageSize
		vs = append(vs, image.VMA{Start: a, End: a + size})
		a += size + uint64(rand.IntN(2))*pageSize // adjacent or a page apart
	}
	rand.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	x, err := newVMAIndex(vs)
	if err != nil {
		t.Fatal(err)
	}
	scan := func(addr, n uint64) *image.VMA {
		for i := range vs {
			if addr >= vs[i].Start && addr+n <= vs[i].End && addr+n > addr {
				return &vs[i]
			}
		}
		return nil
	}
	end := vs[0].End
	for _, v := range vs {
		end = max(end, v.End)
	}
	for addr := uint64(0); addr < end+2*pageSize; addr += pageSize / 2 {
		for _, n := range []uint64{0, 1, pageSize, 2 * pageSize, 3 * pageSize, ^uint64(0)} {
			if got, want := x.find(addr, n), scan(addr, n); got != want {
				t.Fatalf("find(%#x, %#x) = %v, want %v", addr, n, got, want)
			}
		}
	}
}

func TestVMAIndexRefusesOverlap(t *testing.T) {
	vs := []image.VMA{{Start: 0x3000, End: 0x5000}, {Start: 0x1000, End: 0x4000}}
	if _, err := newVMAIndex(vs); err == nil {
		t.Fatal("overlapping mappings indexed")
	}
	if _, err := newVMAIndex(nil); err != nil {
		t.Fatal(err)
	}
}
