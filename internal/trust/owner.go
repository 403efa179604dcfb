package trust

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// refusal is an image root does not restore; it is a permission error
// (EACCES) to errors.Is.
type refusal string

func (r refusal) Error() string { return string(r) }
func (refusal) Unwrap() error   { return unix.EACCES }

// ErrUntrusted: an image someone other than its owner could have written.
var ErrUntrusted error = refusal("someone other than its owner could have written it")

// ErrUnknownWriter: an image read from a pipe or socket, whose writer
// cannot be told.
var ErrUnknownWriter error = refusal("cannot tell who wrote it")

// User is the owner of an image: whom it is restored as.
type User struct {
	Uid, Gid int
}

// Owner is the owner of the image open on f (a regular file, or a
// checkpoint directory and every file in it), opened by path, or given as
// a descriptor when path is "". It refuses an image that a user other
// than its owner (or root) could have written or replaced, and one read
// from anything but a file.
func Owner(f *os.File, path string) (User, error) {
	name := path
	if name == "" {
		name = f.Name()
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return User{}, fmt.Errorf("image %s: %w", name, os.NewSyscallError("fstat", err))
	}
	u := User{Uid: int(st.Uid), Gid: int(st.Gid)}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFIFO:
		// A pipe belongs to the user whose process made it: for
		// 'cat FILE | cr_restart -F 0', the shell's.
		if err := writable(name, &st, u); err != nil {
			return User{}, err
		}
		if path == "" {
			return u, nil // an open file: whoever may rename its name now changes nothing
		}
		return u, inDir(filepath.Dir(path), name, u)
	case unix.S_IFDIR:
		if err := writable(name, &st, u); err != nil {
			return User{}, err
		}
		if path != "" {
			if err := inDir(filepath.Dir(path), name, u); err != nil {
				return User{}, err
			}
		}
		return u, dirFiles(f, name, u)
	}
	return User{}, fmt.Errorf("image %s: %w (it is neither a file nor a pipe), so root restores it only with --trust-image", name, ErrUnknownWriter)
}

// writable refuses what st describes if its group or others may write it,
// or if it belongs to neither u nor root.
func writable(name string, st *unix.Stat_t, u User) error {
	if int(st.Uid) != u.Uid && st.Uid != 0 {
		return fmt.Errorf("%s: owned by uid %d, not by the image's owner (uid %d): %w", name, st.Uid, u.Uid, ErrUntrusted)
	}
	if st.Mode&0o022 != 0 && !(st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Mode&unix.S_ISVTX != 0) {
		return fmt.Errorf("%s: mode %04o lets its group or others write it: %w", name, st.Mode&0o7777, ErrUntrusted)
	}
	return nil
}

// inDir refuses the image name if its directory dir lets anyone but its
// owner u (or root) replace it: writable by others or its group, without
// the sticky bit, or owned by another user.
func inDir(dir, name string, u User) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("image %s: directory %s: %w", name, dir, os.NewSyscallError("stat", err))
	}
	if st.Mode&unix.S_ISVTX != 0 {
		return nil // only the file's owner (or the directory's, or root) may rename or remove it
	}
	if int(st.Uid) != u.Uid && st.Uid != 0 {
		return fmt.Errorf("image %s: its directory %s belongs to uid %d, who could replace it: %w", name, dir, st.Uid, ErrUntrusted)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("image %s: its directory %s (mode %04o, no sticky bit) lets its group or others replace it: %w", name, dir, st.Mode&0o7777, ErrUntrusted)
	}
	return nil
}

// dirFiles checks every entry of the checkpoint directory open on f: only
// regular files that its owner u (or root) alone may write.
func dirFiles(f *os.File, name string, u User) error {
	d, err := os.Open("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return fmt.Errorf("checkpoint directory %s: %w", name, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("checkpoint directory %s: %w", name, err)
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(int(d.Fd()), n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("checkpoint directory %s: %s: %w", name, n, os.NewSyscallError("fstatat", err))
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return fmt.Errorf("checkpoint directory %s: %s is not a regular file: %w", name, n, ErrUntrusted)
		}
		if err := writable(filepath.Join(name, n), &st, u); err != nil {
			return err
		}
	}
	return nil
}
