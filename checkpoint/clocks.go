package checkpoint

import (
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// clocks reads CLOCK_MONOTONIC and CLOCK_BOOTTIME as the process sees
// them: by a clock_gettime of its own, so that a time namespace it is in
// (its offsets) counts.
//
// Precondition: called on the owner thread.
func (a *asker) clocks() (*image.Clocks, error) {
	var c image.Clocks
	for _, k := range []struct {
		id  uint64
		out *image.Timespec
	}{{unix.CLOCK_MONOTONIC, &c.Monotonic}, {unix.CLOCK_BOOTTIME, &c.Boottime}} {
		b, err := a.callRead(a.leader, 16, unix.SYS_CLOCK_GETTIME, k.id, a.scratch)
		if err != nil {
			return nil, fmt.Errorf("pid %d: clock_gettime(%d): %w", a.pid, k.id, err)
		}
		*k.out = image.Timespec{Sec: int64(le.Uint64(b)), Nsec: int64(le.Uint64(b[8:]))}
	}
	return &c, nil
}
