package restart

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// wdStepsMax bounds how many watches one restore adds and removes to
// reach the descriptors an image names.
const wdStepsMax = 100000

// inotify makes again in the process the inotify instance f, with its
// flags and each of its watches added by path, with its mask and its
// descriptor, and returns its fd. The kernel hands out descriptors in
// increasing order, one after the last it gave, even once that one is
// removed: a watch whose descriptor comes too early is removed and added
// again until the descriptor is the image's. The IN_IGNORED events those
// removals queue are read away, and so are any events queued meanwhile.
//
// Precondition: called on the owner thread.
func (b *builder) inotify(f *image.Fd) (uint64, error) {
	fd, err := b.call(unix.SYS_INOTIFY_INIT1, unix.IN_NONBLOCK|uint64(f.Flags&unix.O_CLOEXEC))
	if err != nil {
		return 0, fmt.Errorf("inotify_init1: %w", err)
	}
	fail := func(err error) (uint64, error) {
		b.call(unix.SYS_CLOSE, fd)
		return 0, err
	}
	steps, last := 0, 0
	for _, w := range f.Inotify {
		if w.Wd <= last {
			return fail(fmt.Errorf("watch %d after watch %d: image damaged", w.Wd, last))
		}
		last = w.Wd
		if err := b.mem.WriteAt(append([]byte(w.Path), 0), b.scratch+256); err != nil {
			return fail(err)
		}
		for {
			got, err := b.call(unix.SYS_INOTIFY_ADD_WATCH, fd, b.scratch+256, uint64(w.Mask|unix.IN_DONT_FOLLOW))
			if err != nil {
				return fail(fmt.Errorf("watch %d: inotify_add_watch %s: %w", w.Wd, w.Path, err))
			}
			if int(got) == w.Wd {
				break
			}
			if int(got) > w.Wd || steps >= wdStepsMax {
				return fail(fmt.Errorf("watch %d on %s: the kernel gives descriptor %d, and cannot be made to give %d (at most %d watches are added and removed to reach one)", w.Wd, w.Path, got, w.Wd, wdStepsMax))
			}
			if _, err := b.call(unix.SYS_INOTIFY_RM_WATCH, fd, got); err != nil {
				return fail(fmt.Errorf("watch %d: inotify_rm_watch %d: %w", w.Wd, got, err))
			}
			if steps++; steps%1000 == 0 {
				if err := b.drainInotify(fd); err != nil { // before the queue overflows
					return fail(err)
				}
			}
		}
	}
	if err := b.drainInotify(fd); err != nil {
		return fail(err)
	}
	if f.Flags&unix.O_NONBLOCK == 0 {
		if _, err := b.call(unix.SYS_FCNTL, fd, unix.F_SETFL, 0); err != nil {
			return fail(fmt.Errorf("fcntl(F_SETFL): %w", err))
		}
	}
	return fd, nil
}

// drainInotify reads away the events queued on the non-blocking inotify
// instance at fd.
//
// Precondition: called on the owner thread.
func (b *builder) drainInotify(fd uint64) error {
	for {
		_, err := b.call(unix.SYS_READ, fd, b.scratch+4096, 8192)
		if errors.Is(err, unix.EAGAIN) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("inotify: read its queued events: %w", err)
		}
	}
}
