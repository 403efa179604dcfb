package trust

import (
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Inherited lists the descriptors above stdio that the process holds now.
// Called first thing in main, before the Go runtime or anything else has
// opened one of its own, it lists what the caller left open: those are
// the descriptors Become closes. It opens none through package os, so
// that nothing of the runtime's (its poller) is among them.
func Inherited() []int {
	fd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var fds []int
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, s := range names {
			if v, err := strconv.Atoi(s); err == nil && v > 2 && v != fd {
				fds = append(fds, v)
			}
		}
	}
	return fds
}

// Become makes the calling process (every thread) the user u, with the
// supplementary groups /etc/group gives u (none if u is not in the
// password file, whose primary group is then the image file's group), and
// no capabilities. First it closes the inherited descriptors but those in
// keep, so that none opened with root's rights is held by a process that
// u may then trace. Become runs before any thread of the restart starts.
func Become(u User, inherited, keep []int) error {
	for _, fd := range inherited {
		if !slices.Contains(keep, fd) {
			unix.Close(fd)
		}
	}
	gid, groups := u.Gid, []int{}
	if pw, err := user.LookupId(strconv.Itoa(u.Uid)); err == nil {
		if g, err := strconv.Atoi(pw.Gid); err == nil {
			gid = g
		}
		if ids, err := pw.GroupIds(); err == nil {
			for _, s := range ids {
				if g, err := strconv.Atoi(s); err == nil {
					groups = append(groups, g)
				}
			}
		}
	}
	// syscall's (not x/sys's raw) calls apply to every thread of the process.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("becoming uid %d: setgroups: %w", u.Uid, err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("becoming uid %d: setresgid(%d): %w", u.Uid, gid, err)
	}
	if err := syscall.Setresuid(u.Uid, u.Uid, u.Uid); err != nil {
		return fmt.Errorf("becoming uid %d: setresuid: %w", u.Uid, err)
	}
	// The uid change left the process undumpable, which would keep it from
	// tracing and reading the memory of the processes it builds; nothing
	// of root's is open any more.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("becoming uid %d: prctl(PR_SET_DUMPABLE): %w", u.Uid, err)
	}
	return nil
}
