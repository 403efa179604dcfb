package image

import (
	"math/rand/v2"
	"testing"
)

// TestVMAIndex checks find against a scan of the mappings, for mappings
// given out of order, with gaps, and ranges that start or end outside them.
func TestVMAIndex(t *testing.T) {
	var vs []VMA
	for a := uint64(0x10000); len(vs) < 500; {
		size := uint64(1+rand.IntN(4)) * 4096
		vs = append(vs, VMA{Start: a, End: a + size})
		a += size + uint64(rand.IntN(2))*4096 // adjacent or a page apart
	}
	rand.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	x, err := NewVMAIndex(vs)
	if err != nil {
		t.Fatal(err)
	}
	scan := func(addr, n uint64) *VMA {
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
	for addr := uint64(0); addr < end+2*4096; addr += 4096 / 2 {
		for _, n := range []uint64{0, 1, 4096, 2 * 4096, 3 * 4096, ^uint64(0)} {
			if got, want := x.Find(addr, n), scan(addr, n); got != want {
				t.Fatalf("find(%#x, %#x) = %v, want %v", addr, n, got, want)
			}
		}
	}
}

func TestVMAIndexRefusesOverlap(t *testing.T) {
	vs := []VMA{{Start: 0x3000, End: 0x5000}, {Start: 0x1000, End: 0x4000}}
	if _, err := NewVMAIndex(vs); err == nil {
		t.Fatal("overlapping mappings indexed")
	}
	if _, err := NewVMAIndex(nil); err != nil {
		t.Fatal(err)
	}
}
