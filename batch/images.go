package batch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Images is the directory holding one job's images: image.1, image.2, ...
// (the number is the checkpoint's generation; the newest is the highest),
// a lock file that one cr_job at a time holds, and images found damaged,
// renamed image.N.bad.
type Images struct {
	Dir  string
	lock *os.File
}

// OpenImages makes dir (0700) if it is missing, checks it belongs to the
// caller, and locks it against a second cr_job.
func OpenImages(dir string) (*Images, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	if uid := uint32(os.Geteuid()); st.Uid != uid {
		return nil, fmt.Errorf("%s: owned by uid %d, not by this job's user (uid %d): choose another --dir", dir, st.Uid, uid)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: in use by another cr_job (its lock file is held)", dir)
		}
		return nil, &os.PathError{Op: "flock", Path: lock.Name(), Err: err}
	}
	return &Images{Dir: dir, lock: lock}, nil
}

// image is one generation's file.
type image struct {
	gen  int
	path string
}

// list returns the images, newest first; bad ones only count for numbering.
func (m *Images) list() (good []image, last int, err error) {
	ents, err := os.ReadDir(m.Dir)
	if err != nil {
		return nil, 0, err
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "image.")
		if !ok {
			continue
		}
		num, bad := strings.CutSuffix(rest, ".bad")
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 || strconv.Itoa(n) != num {
			continue
		}
		last = max(last, n)
		if !bad {
			good = append(good, image{n, filepath.Join(m.Dir, e.Name())})
		}
	}
	slices.SortFunc(good, func(a, b image) int { return b.gen - a.gen })
	return good, last, nil
}

// next is the path of the next generation's image.
func (m *Images) next() (string, error) {
	_, last, err := m.list()
	if err != nil {
		return "", err
	}
	return filepath.Join(m.Dir, "image."+strconv.Itoa(last+1)), nil
}

// markBad renames an image that could not be restarted while an older
// one could, so that it is neither tried nor kept in its place again.
func (m *Images) markBad(im image) error {
	return os.Rename(im.path, im.path+".bad")
}

// prune removes all but the newest keep images. A restarted process may
// still map one (a lazy restart): removing the file is safe, the process
// keeps the old inode.
func (m *Images) prune(keep int) error {
	good, _, err := m.list()
	if err != nil {
		return err
	}
	for i, im := range good {
		if i >= keep {
			if err := os.Remove(im.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove removes every image, bad ones included, the lock, and the
// directory if nothing else is left in it.
func (m *Images) Remove() error {
	ents, err := os.ReadDir(m.Dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "image.") {
			if err := os.Remove(filepath.Join(m.Dir, e.Name())); err != nil {
				return err
			}
		}
	}
	os.Remove(m.lock.Name())
	m.lock.Close()
	if err := os.Remove(m.Dir); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		return err
	}
	return nil
}
