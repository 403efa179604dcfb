package image

import (
	"fmt"
	"hash/crc32"
	"io"
)

// PageSum is the CRC-32C of one page of payload, as PagesSummed takes it:
// the sums of pages can be computed elsewhere (on another core, while the
// writer writes) and chained here at the cost of a table look-up per byte
// of sum, not per byte of page.
func PageSum(page []byte) uint32 { return crc32.Checksum(page, castagnoli) }

// PagesSummed is Pages for data whose pages' PageSums are already known,
// in sums (one per page).
func (w *Writer) PagesSummed(vaddr uint64, data []byte, sums []uint32) error {
	if len(data)%PageSize != 0 || len(sums) != len(data)/PageSize {
		return fmt.Errorf("image: pages at %#x: %d bytes, %d sums", vaddr, len(data), len(sums))
	}
	return w.summed(RecPages, vaddr, true, data, sums)
}

// summed writes a record like record, chaining the given page sums instead
// of reading data to sum it.
func (w *Writer) summed(t RecordType, arg uint64, align bool, data []byte, sums []uint32) error {
	return w.recordSum(t, arg, align, int64(len(data)), func(crc uint32) (uint32, error) {
		for _, s := range sums {
			crc = pageShift.apply(crc) ^ s
		}
		return crc, nil
	}, func(o io.Writer) error { _, err := o.Write(data); return err })
}

// A zeros operator maps the CRC-32C of a message A to the CRC of A followed
// by a fixed number of zero bytes, minus the CRC of those zeros alone: the
// CRC of A||B is op(crc(A)) ^ crc(B) for every B of that length. It is
// linear over GF(2), so it is kept as four tables, one per byte of the CRC.
type zerosOp [4][256]uint32

// pageShift is the zeros operator for a page.
var pageShift = newZerosOp(PageSize)

func newZerosOp(n int) *zerosOp {
	// The CRC register after a zero byte, as a 32x32 matrix (column i is
	// the image of bit i), then squared up to n bytes.
	var col [32]uint32
	for i := range col {
		col[i] = rawShift(1<<i, 1)
	}
	total := identity()
	for pow := col; n > 0; n >>= 1 {
		if n&1 != 0 {
			total = mul(pow, total)
		}
		pow = mul(pow, pow)
	}
	op := new(zerosOp)
	for b := 0; b < 4; b++ {
		for v := 0; v < 256; v++ {
			op[b][v] = apply(total, uint32(v)<<(8*b))
		}
	}
	return op
}

func (op *zerosOp) apply(crc uint32) uint32 {
	return op[0][crc&0xff] ^ op[1][crc>>8&0xff] ^ op[2][crc>>16&0xff] ^ op[3][crc>>24]
}

// rawShift runs the bare CRC register (reflected Castagnoli polynomial, no
// inversions) over n zero bytes from reg.
func rawShift(reg uint32, n int) uint32 {
	const poly = 0x82f63b78
	for i := 0; i < 8*n; i++ {
		if reg&1 != 0 {
			reg = reg>>1 ^ poly
		} else {
			reg >>= 1
		}
	}
	return reg
}

func identity() (m [32]uint32) {
	for i := range m {
		m[i] = 1 << i
	}
	return m
}

func apply(m [32]uint32, v uint32) uint32 {
	var out uint32
	for i := 0; v != 0; i, v = i+1, v>>1 {
		if v&1 != 0 {
			out ^= m[i]
		}
	}
	return out
}

// mul is the matrix product a·b (b first).
func mul(a, b [32]uint32) (m [32]uint32) {
	for i := range m {
		m[i] = apply(a, b[i])
	}
	return m
}
