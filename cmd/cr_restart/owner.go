package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/trust"
	"stasis/restart"
)

// asOwner makes a cr_restart run by root the owner of the image file
// before anything of the image is read (internal/trust), unless
// --trust-image: an image is trusted only as far as whoever could have
// written it. inherited are the descriptors cr_restart was started with.
func asOwner(c *cli, inherited []int) error {
	if os.Geteuid() != 0 {
		if c.TrustImage {
			return badArgs("--trust-image: only root restores an image with credentials other than its own")
		}
		return nil
	}
	if c.TrustImage {
		return nil
	}
	f, path, keep, err := imageFile(c)
	if err != nil || f == nil {
		return err
	}
	defer f.Close()
	u, err := trust.Owner(f, path)
	if err != nil {
		return fmt.Errorf("%w; root restores an image as the user who owns it, so it refuses one that another user could have written (--trust-image restores it as it is: see docs/SECURITY.md)", err)
	}
	if u.Uid == 0 {
		return nil
	}
	return trust.Become(u, inherited, append(keep, inheritFds(c)...))
}

// inheritFds are the fds that --inherit-fd gives (start says what is wrong
// with one that does not parse).
func inheritFds(c *cli) []int {
	var fds []int
	for _, arg := range c.InheritFd {
		if in, err := restart.ParseInherit(arg); err == nil {
			fds = append(fds, in.Fd)
		}
	}
	return fds
}

// imageFile opens what asOwner judges, nil when no image is named (start
// says what is missing), with the descriptors trust.Become must keep and the
// path to check the directory of ("" for -F). For -F it is a duplicate: an
// *os.File over the caller's own descriptor would close it when collected,
// and the restorer would then be started without its standard input.
func imageFile(c *cli) (f *os.File, path string, keep []int, err error) {
	if c.Fd != nil {
		dup, err := unix.FcntlInt(uintptr(*c.Fd), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, "", nil, badArgs("-F %d: not an open file descriptor: %w", *c.Fd, err)
		}
		return os.NewFile(uintptr(dup), fmt.Sprintf("fd %d", *c.Fd)), "", []int{*c.Fd}, nil
	}
	path = c.Image
	for _, p := range []string{c.File, c.Dir} {
		if p != "" {
			path = p
		}
	}
	if path == "" {
		return nil, "", nil, nil
	}
	if f, err = os.Open(path); err != nil {
		return nil, "", nil, argsError{err}
	}
	return f, path, nil, nil
}
