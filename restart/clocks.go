package restart

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/ptrace"
)

// timeNS is the time namespace the processes of a restore are born
// into, made when the clocks here are behind the image's.
type timeNS struct {
	offsets string    // for timens_offsets
	first   int       // the first process born into it (0: none yet; -1: none could be made)
	out     *Restored // where notes go
}

// timeNamespace makes sure the processes of the image never see
// CLOCK_MONOTONIC or CLOCK_BOOTTIME go backwards (after a reboot, or on
// another machine): if either clock here is behind what the image
// recorded, it returns the time namespace to make, whose offsets make the
// clocks that were behind go on from the recorded values (nil: none is
// needed). A clock that is ahead is left alone, as after a suspend.
func timeNamespace(c *image.Clocks, out *Restored) (*timeNS, error) {
	if c == nil {
		return nil, nil
	}
	var mono, boot unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		return nil, os.NewSyscallError("clock_gettime", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot); err != nil {
		return nil, os.NewSyscallError("clock_gettime", err)
	}
	dm, db := behind(c.Monotonic, mono), behind(c.Boottime, boot)
	if dm == 0 && db == 0 {
		return nil, nil
	}
	cur, err := readOffsets()
	if err != nil {
		return nil, err
	}
	return &timeNS{offsets: fmt.Sprintf("monotonic %s\nboottime %s\n", offset(cur[0]+dm), offset(cur[1]+db)), out: out}, nil
}

// enter has the restorer stub s, which is about to clone a process of
// the image, give its children the time namespace: the first stub makes
// it (unshare, then we write its offsets before any process is in it),
// the next ones join it through the first process born into it.
//
// Precondition: called on the owner thread.
func (t *timeNS) enter(r *ptrace.Remote, mem *ptrace.Mem, scratch uint64) error {
	if t.first < 0 {
		return nil
	}
	if t.first == 0 {
		if _, err := r.Syscall(unix.SYS_UNSHARE, unix.CLONE_NEWTIME); err != nil {
			if errno, ok := err.(*ptrace.Errno); ok && (errno.Errno == unix.EPERM || errno.Errno == unix.EINVAL) {
				t.out.Notes = append(t.out.Notes, fmt.Sprintf("the clocks here are behind the image's and no time namespace could be made (%v; it needs root or a restart with --restore-pid): the processes see CLOCK_MONOTONIC and CLOCK_BOOTTIME go back", err))
				t.first = -1
				return nil
			}
			return fmt.Errorf("time namespace: unshare(CLONE_NEWTIME): %w", err)
		}
		path := fmt.Sprintf("/proc/%d/timens_offsets", r.Tid)
		if err := os.WriteFile(path, []byte(t.offsets), 0); err != nil {
			return fmt.Errorf("time namespace: set its offsets (%q): %w", t.offsets, err)
		}
		return nil
	}
	path := fmt.Sprintf("/proc/%d/ns/time", t.first)
	if err := mem.WriteAt(append([]byte(path), 0), scratch+256); err != nil {
		return err
	}
	fd, err := r.Syscall(unix.SYS_OPENAT, atFdcwd, scratch+256, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("time namespace: open %s: %w", path, err)
	}
	_, err = r.Syscall(unix.SYS_SETNS, fd, unix.CLONE_NEWTIME)
	r.Syscall(unix.SYS_CLOSE, fd)
	if err != nil {
		return fmt.Errorf("time namespace: join that of pid %d: %w", t.first, err)
	}
	return nil
}

// behind returns by how many nanoseconds now is behind was (0 if not).
func behind(was image.Timespec, now unix.Timespec) int64 {
	d := (was.Sec-now.Sec)*1e9 + (was.Nsec - now.Nsec)
	return max(d, 0)
}

// offset formats ns nanoseconds as timens_offsets wants: seconds and a
// non-negative nanosecond part.
func offset(ns int64) string {
	s, n := ns/1e9, ns%1e9
	if n < 0 {
		s, n = s-1, n+1e9
	}
	return fmt.Sprintf("%d %d", s, n)
}

// readOffsets returns the monotonic and boottime offsets, in nanoseconds,
// of the time namespace our children are born into (which is ours).
func readOffsets() ([2]int64, error) {
	var off [2]int64
	b, err := os.ReadFile("/proc/self/timens_offsets")
	if os.IsNotExist(err) {
		return off, nil // no time namespaces in this kernel: all zero
	}
	if err != nil {
		return off, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		var name string
		var s, n int64
		if _, err := fmt.Sscanf(line, "%s %d %d", &name, &s, &n); err != nil {
			continue
		}
		switch name {
		case "monotonic":
			off[0] = s*1e9 + n
		case "boottime":
			off[1] = s*1e9 + n
		}
	}
	return off, nil
}
