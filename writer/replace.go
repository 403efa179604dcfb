package writer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Only a regular file is ever replaced or removed: an image is one, and
// whatever else a destination names (a device such as /dev/null, a FIFO,
// a socket, a symbolic link to any of them or to anything else) is
// refused. The check is made twice: once when the image is started, for
// an early and clear refusal, and again on the very entry that is
// displaced (see replace and remove), so a file swapped for something
// else in between is put back, not destroyed.

// ErrNotRegular: the destination exists and is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// checkReplaceable refuses a path that holds anything but a regular file.
func checkReplaceable(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return regular(path, st)
}

// regular says why st (what path names) may not be replaced, if it may not.
func regular(path string, st fs.FileInfo) error {
	m := st.Mode()
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return errors.New("is a directory")
	case m&fs.ModeSymlink != 0:
		to, _ := os.Readlink(path)
		return fmt.Errorf("is a symbolic link (to %s), %w: not replaced (name the file itself)", to, ErrNotRegular)
	}
	return fmt.Errorf("is a %s, %w: not replaced (to write an image into a device or pipe, give it as a descriptor: cr_checkpoint -F FD)", kind(m), ErrNotRegular)
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file (" + m.Type().String() + ")"
}

// replace renames tmp (a complete image) to path, displacing only a
// regular file: the two are exchanged in one step, and what came out of
// path is checked; anything but a regular file goes back.
func replace(tmp, path string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EEXIST) {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return renameChecked(tmp, path) // no renameat2 flags on this file system
		}
		return err
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return renameChecked(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("exchange with the previous image: %w", err)
	}
	return removeDisplaced(tmp, path, unix.RENAME_EXCHANGE)
}

// renameChecked is replace where the file system cannot exchange: the
// check is made just before the rename.
func renameChecked(tmp, path string) error {
	if err := checkReplaceable(path); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// remove unlinks path if it is a regular file (and only then): it is
// first moved aside under a name of ours, checked there, and put back if
// it is anything else.
func remove(path string) error {
	aside := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".old"+strconv.Itoa(os.Getpid()))
	os.Remove(aside)
	err := unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, aside, unix.RENAME_NOREPLACE)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		if err := checkReplaceable(path); err != nil {
			return err
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	case err != nil:
		return err
	}
	return removeDisplaced(aside, path, unix.RENAME_NOREPLACE)
}

// removeDisplaced unlinks moved, what was at path a moment ago, if it is
// a regular file; anything else is renamed back (with flags).
func removeDisplaced(moved, path string, flags uint) error {
	st, err := os.Lstat(moved)
	if err == nil {
		err = regular(path, st)
	}
	if err != nil {
		if xerr := unix.Renameat2(unix.AT_FDCWD, moved, unix.AT_FDCWD, path, flags); xerr != nil {
			return fmt.Errorf("%w; and putting it back failed: %v (it is now %s)", err, xerr, moved)
		}
		return err
	}
	return os.Remove(moved)
}
