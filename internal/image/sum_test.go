package image

import (
	"bytes"
	"math/rand"
	"testing"
)

// TestPagesSummed: a record written from page sums is the same, byte for
// byte, as one written by Pages, which sums the payload itself.
func TestPagesSummed(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, pages := range []int{1, 2, 3, 17} {
		data := make([]byte, pages*PageSize)
		rng.Read(data)
		data[5] = 0 // and a page of zeros, which sums to something else
		copy(data[PageSize:min(len(data), 2*PageSize)], make([]byte, PageSize))
		var sums []uint32
		for off := 0; off < len(data); off += PageSize {
			sums = append(sums, PageSum(data[off:off+PageSize]))
		}
		var a, b bytes.Buffer
		wa, _ := NewWriter(&a, ArchX86_64)
		wb, _ := NewWriter(&b, ArchX86_64)
		wb.prev = wa.prev // their headers hold the time, which the chain starts from
		if err := wa.Pages(0x10000, data); err != nil {
			t.Fatal(err)
		}
		if err := wb.PagesSummed(0x10000, data, sums); err != nil {
			t.Fatal(err)
		}
		wa.Close()
		wb.Close()
		if !bytes.Equal(a.Bytes()[headerSize:], b.Bytes()[headerSize:]) {
			t.Fatalf("%d pages: PagesSummed wrote another record than Pages", pages)
		}
	}
	if err := (&Writer{}).PagesSummed(0, make([]byte, PageSize), nil); err == nil {
		t.Fatal("PagesSummed took a page without its sum")
	}
}
