package checkpoint

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// clocks reads CLOCK_MONOTONIC and CLOCK_BOOTTIME as the process sees
// them: by a clock_gettime of its own, so that a time namespace it is in
// (its offsets) counts; or, in the time namespace we are in, which shows
// every process the same clocks, by ours, which costs no remote call.
//
// Precondition: called on the owner thread.
func (a *asker) clocks() (*image.Clocks, error) {
	var c image.Clocks
	if sameTimeNS(a.pid) {
		for _, k := range []struct {
			id  int32
			out *image.Timespec
		}{{unix.CLOCK_MONOTONIC, &c.Monotonic}, {unix.CLOCK_BOOTTIME, &c.Boottime}} {
			var ts unix.Timespec
			if err := unix.ClockGettime(k.id, &ts); err != nil {
				return nil, os.NewSyscallError("clock_gettime", err)
			}
			*k.out = image.Timespec{Sec: ts.Sec, Nsec: ts.Nsec}
		}
		return &c, nil
	}
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

// sameTimeNS reports whether process pid is in our time namespace. Where
// that cannot be told (no time namespaces, or no access), it says no.
func sameTimeNS(pid int) bool {
	ours, err := os.Readlink("/proc/self/ns/time")
	if err != nil {
		return false
	}
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/time", pid))
	return err == nil && theirs == ours
}
