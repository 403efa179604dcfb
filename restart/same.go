package restart

import (
	"fmt"

	"stasis/internal/image"
)

// copySame fills the pages a RecSame record names by copying them from the
// earlier process of the image that holds them, which is already rebuilt
// and whose memory is still open.
func (b *builder) copySame(rec image.Record, ir *image.Reader) error {
	s, err := ir.Same()
	if err != nil {
		return err
	}
	src := b.peers[s.Pid]
	where := fmt.Sprintf("pid %d: pages %#x-%#x, same as pid %d's at %#x", b.pid, rec.Arg, rec.Arg+s.Len, s.Pid, s.Addr)
	if src == nil || src == b || src.mem == nil {
		return fmt.Errorf("image: %s: no such process earlier in the image: image damaged", where)
	}
	if !src.inVMA(s.Addr, s.Len) || !b.inVMA(rec.Arg, s.Len) {
		return fmt.Errorf("image: %s: outside the mappings: image damaged", where)
	}
	buf := b.shared.copyBuf()
	for off := uint64(0); off < s.Len; {
		n := min(uint64(len(buf)), s.Len-off)
		if err := src.mem.ReadAt(buf[:n], s.Addr+off); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if err := b.mem.WriteAt(buf[:n], rec.Arg+off); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		off += n
	}
	return nil
}
