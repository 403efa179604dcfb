// Package writer puts an image where the user asked, under BLCR's policies:
// atomic (the default: the destination holds the previous image or the
// complete new one, never anything in between), backup (the same, keeping
// the previous image under another name), clobber (the previous image is
// removed first, and the new one written in its place) and noclobber (an
// existing image is an error). The image is written into an unnamed file
// (O_TMPFILE) in the destination's directory, so a writer killed midway
// leaves nothing behind, then synced, made readable by its owner only and
// linked into place. Only a regular file is ever replaced or removed
// (replace.go).
package writer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Policy is what happens to an image already at the destination.
type Policy int

const (
	Atomic    Policy = iota // replace it atomically (default)
	Backup                  // keep it as BackupName, or as PATH.~N~
	Clobber                 // remove it first, then write in its place
	NoClobber               // fail
)

// Options say how to write an image.
type Options struct {
	Policy     Policy
	BackupName string // Backup: the name for the previous image ("": numbered)
	Sync       bool   // fsync the image and its directory
}

// File is an image being written.
type File struct {
	*os.File
	path    string
	opt     Options
	named   bool   // the file has a name (clobber, or no O_TMPFILE here)
	tmpName string // the temporary name it was linked to, if any
	done    bool
	back    writeBack // with Sync
}

// writeBehind is how far, with Sync, the bytes written may run ahead of
// those whose write-back to the disk has been started.
const writeBehind = 8 << 20

// writeBack starts the write-back of every writeBehind bytes written to an
// image with Sync (sync_file_range), so that the disk writes while the
// rest of the image is still being read, and the fsync of Commit waits
// only for the last of it: without that, as with dd conv=fsync,
// everything goes into the page cache first and only then to the disk,
// one after the other. Its errors are the fsync's to report.
type writeBack struct {
	written, behind int64 // bytes written, and started to the disk
}

// wrote counts n more bytes written to f.
func (w *writeBack) wrote(f *os.File, n int) {
	w.written += int64(n)
	if w.written-w.behind >= writeBehind {
		unix.SyncFileRange(int(f.Fd()), w.behind, w.written-w.behind, unix.SYNC_FILE_RANGE_WRITE)
		w.behind = w.written
	}
}

// Write writes b at the end of the image (see writeBack).
func (f *File) Write(b []byte) (int, error) {
	n, err := f.File.Write(b)
	if f.opt.Sync {
		f.back.wrote(f.File, n)
	}
	return n, err
}

// syncedFile is a file of a checkpoint directory written with Sync (see
// writeBack).
type syncedFile struct {
	f    *os.File
	back writeBack
}

func (s *syncedFile) Write(b []byte) (int, error) {
	n, err := s.f.Write(b)
	s.back.wrote(s.f, n)
	return n, err
}

// ErrExists: --noclobber, and the image exists.
var ErrExists = errors.New("exists (--noclobber)")

// Create starts an image that will appear at path on Commit.
func Create(path string, opt Options) (*File, error) {
	fail := func(err error) (*File, error) { return nil, fmt.Errorf("image %s: %w", path, err) }
	if err := checkReplaceable(path); err != nil {
		return fail(err)
	}
	if _, err := os.Lstat(path); err == nil && opt.Policy == NoClobber {
		return fail(ErrExists)
	}
	if opt.Policy == Backup && opt.BackupName != "" {
		if err := checkReplaceable(opt.BackupName); err != nil {
			return fail(fmt.Errorf("backup %s: %w", opt.BackupName, err))
		}
	}
	dir := filepath.Dir(path)
	if opt.Policy == Clobber {
		// Unlink, never truncate: a restored process may still map it.
		if err := remove(path); err != nil {
			return fail(err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fail(err)
		}
		return &File{File: f, path: path, opt: opt, named: true}, nil
	}
	removeStale(path)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return &File{File: os.NewFile(uintptr(fd), path+" (being written)"), path: path, opt: opt}, nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
		return fail(err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // no O_TMPFILE on this file system
	if err != nil {
		return fail(err)
	}
	return &File{File: f, path: path, opt: opt, named: true}, nil
}

// Commit makes the image visible at its path, as the policy says.
func (f *File) Commit() error {
	err := f.Chmod(0o400)
	if err == nil && f.opt.Sync {
		err = f.Sync()
	}
	if err == nil {
		err = f.place()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.done = true
		f.removeTemp()
		return fmt.Errorf("image %s: %w", f.path, err)
	}
	f.done = true
	if f.opt.Sync {
		return syncDir(filepath.Dir(f.path))
	}
	return nil
}

// place links the complete image to its path.
func (f *File) place() error {
	if f.opt.Policy == Clobber {
		return nil // written in place
	}
	tmp := f.Name()
	if !f.named {
		// Give the unnamed file a temporary name beside the destination.
		tmp = filepath.Join(filepath.Dir(f.path), tmpPrefix(f.path)+strconv.Itoa(os.Getpid()))
		os.Remove(tmp)
		if err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW); err != nil {
			return fmt.Errorf("link: %w", err)
		}
		f.named = true
	}
	f.tmpName = tmp
	switch f.opt.Policy {
	case NoClobber:
		if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, f.path, unix.RENAME_NOREPLACE); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return ErrExists
			}
			return err
		}
		return nil
	case Backup:
		if st, err := os.Lstat(f.path); err == nil {
			if err := regular(f.path, st); err != nil {
				return err
			}
			name := f.opt.BackupName
			if name == "" {
				name = nextBackup(f.path)
			}
			if err := remove(name); err != nil {
				return fmt.Errorf("backup to %s: %w", name, err)
			}
			if err := os.Link(f.path, name); err != nil {
				return fmt.Errorf("backup to %s: %w", name, err)
			}
		}
	}
	return replace(tmp, f.path)
}

// nextBackup is PATH.~N~ for the first N above every existing one.
func nextBackup(path string) string {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	n := 0
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, base+".~") || !strings.HasSuffix(name, "~") {
			continue
		}
		if k, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, base+".~"), "~")); err == nil && k > n {
			n = k
		}
	}
	return fmt.Sprintf("%s.~%d~", path, n+1)
}

// Abort removes the unfinished image; under every policy but clobber the
// destination is untouched.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	f.removeTemp()
}

func (f *File) removeTemp() {
	switch {
	case f.opt.Policy == Clobber:
		remove(f.path) // a partial image is never left
	case f.tmpName != "":
		os.Remove(f.tmpName)
	case f.named:
		os.Remove(f.Name())
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
