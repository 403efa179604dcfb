package main

import (
	"fmt"
	"os"

	"stasis/internal/trust"
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
	var f *os.File
	path := c.Image
	for _, p := range []string{c.File, c.Dir} {
		if p != "" {
			path = p
		}
	}
	var keep []int
	switch {
	case c.Fd != nil:
		f = os.NewFile(uintptr(*c.Fd), fmt.Sprintf("fd %d", *c.Fd))
		keep, path = []int{*c.Fd}, ""
	case path == "":
		return nil // start says what is missing
	default:
		var err error
		if f, err = os.Open(path); err != nil {
			return argsError{err}
		}
		defer f.Close()
	}
	u, err := trust.Owner(f, path)
	if err != nil {
		return fmt.Errorf("%w; root restores an image as the user who owns it, so it refuses one that another user could have written (--trust-image restores it as it is: see docs/SECURITY.md)", err)
	}
	if u.Uid == 0 {
		return nil
	}
	return trust.Become(u, inherited, keep)
}
