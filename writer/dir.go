package writer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Dir is a checkpoint directory being written (cr_checkpoint -d): files
// written unnamed (O_TMPFILE) beside the directory, linked into a new
// directory only once all are complete, which then takes the place of the
// old one as the policy says, by rename. The set appears complete or not
// at all; a writer killed while writing leaves nothing behind.
//
// An existing directory is replaced (or kept as a backup, or removed
// first with Clobber) only if it is a checkpoint directory (it holds
// marker) or empty: anything else is never touched.
type Dir struct {
	path   string
	marker string
	opt    Options
	files  []*os.File
	names  []string
	done   bool
	kept   string // a previous set left under a temporary name (see place)
}

// CreateDir starts a checkpoint directory that will appear at path on
// Commit; marker is the name of the file that every checkpoint directory
// holds.
func CreateDir(path, marker string, opt Options) (*Dir, error) {
	d := &Dir{path: path, marker: marker, opt: opt}
	fail := func(err error) (*Dir, error) { return nil, fmt.Errorf("checkpoint directory %s: %w", path, err) }
	if err := d.replaceable(); err != nil {
		return fail(err)
	}
	if opt.Policy == Clobber {
		if err := os.RemoveAll(path); err != nil {
			return fail(err)
		}
	}
	removeStale(path)
	return d, nil
}

// replaceable checks what is at the path now against the policy.
func (d *Dir) replaceable() error {
	st, err := os.Lstat(d.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !st.IsDir():
		return errors.New("exists and is not a directory")
	case d.opt.Policy == NoClobber:
		return ErrExists
	}
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(d.path, d.marker)); err != nil {
		return fmt.Errorf("exists and is not a checkpoint directory (no %s in it): not replaced", d.marker)
	}
	return nil
}

// Create starts the file name of the directory.
func (d *Dir) Create(name string) (io.Writer, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return nil, fmt.Errorf("checkpoint directory %s: bad file name %q", d.path, name)
	}
	fd, err := unix.Open(filepath.Dir(d.path), unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("checkpoint directory %s: %s: %w (the file system must support O_TMPFILE)", d.path, name, err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(d.path, name)+" (being written)")
	d.files, d.names = append(d.files, f), append(d.names, name)
	if d.opt.Sync {
		return &syncedFile{f: f}, nil
	}
	return f, nil
}

// tmpPrefix starts the names of the images being put in place.
func tmpPrefix(path string) string { return "." + filepath.Base(path) + ".new" }

// Commit links the files into a new directory and puts it in place.
func (d *Dir) Commit() (err error) {
	d.done = true
	defer d.closeFiles()
	parent := filepath.Dir(d.path)
	tmp := filepath.Join(parent, tmpPrefix(d.path)+strconv.Itoa(os.Getpid()))
	fail := func(err error) error {
		if d.kept != tmp {
			os.RemoveAll(tmp)
		}
		return fmt.Errorf("checkpoint directory %s: %w", d.path, err)
	}
	os.RemoveAll(tmp)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fail(err)
	}
	for i, f := range d.files {
		if err := f.Chmod(0o400); err != nil {
			return fail(err)
		}
		if d.opt.Sync {
			if err := f.Sync(); err != nil {
				return fail(err)
			}
		}
		err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), unix.AT_FDCWD,
			filepath.Join(tmp, d.names[i]), unix.AT_SYMLINK_FOLLOW)
		if err != nil {
			return fail(fmt.Errorf("%s: link: %w", d.names[i], err))
		}
	}
	if d.opt.Sync {
		if err := syncDir(tmp); err != nil {
			return fail(err)
		}
	}
	if err := d.place(tmp); err != nil {
		return fail(err)
	}
	if d.opt.Sync {
		return syncDir(parent)
	}
	return nil
}

// place puts the complete directory tmp at the path, as the policy says.
func (d *Dir) place(tmp string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, d.path, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	if d.opt.Policy == NoClobber {
		return ErrExists
	}
	if err := d.replaceable(); err != nil { // checked again: it may have changed
		return err
	}
	backup := ""
	if d.opt.Policy == Backup {
		backup = d.opt.BackupName
		if backup == "" {
			backup = nextBackup(d.path)
		}
		if err := (&Dir{path: backup, marker: d.marker}).replaceable(); err != nil {
			return fmt.Errorf("backup to %s: %w", backup, err)
		}
	}
	// Swap old and new in one step: the path always holds a complete set.
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, d.path, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("exchange with the previous directory: %w", err)
	}
	if backup == "" {
		os.RemoveAll(tmp) // the previous set now; a leftover is removed by a later checkpoint
		return nil
	}
	os.RemoveAll(backup)
	if err := os.Rename(tmp, backup); err != nil {
		// Out of the way of removeStale, which would take it for the
		// leftover of a killed writer.
		kept := filepath.Join(filepath.Dir(d.path), "."+filepath.Base(d.path)+".previous-"+strconv.FormatInt(time.Now().UnixNano(), 10))
		if os.Rename(tmp, kept) == nil {
			tmp = kept
		}
		d.kept = tmp
		return fmt.Errorf("the new directory is in place, but the backup to %s failed: %w (the previous one is %s)", backup, err, tmp)
	}
	return nil
}

// Abort drops the unfinished directory; the path is untouched (but with
// Clobber, where the previous one was removed first).
func (d *Dir) Abort() {
	if !d.done {
		d.done = true
		d.closeFiles()
	}
}

func (d *Dir) closeFiles() {
	for _, f := range d.files {
		f.Close()
	}
}

// removeStale removes what writers killed between naming an image (a
// directory, or a file) and renaming it into place left beside path: a
// directory, or a regular file of ours, named by tmpPrefix and the pid of
// a process that no longer exists.
func removeStale(path string) {
	parent := filepath.Dir(path)
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), tmpPrefix(path))
		pid, err := strconv.Atoi(rest)
		if !ok || err != nil || pid <= 0 || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		name := filepath.Join(parent, e.Name())
		var st unix.Stat_t
		switch {
		case e.IsDir():
			os.RemoveAll(name)
		case e.Type().IsRegular() && unix.Lstat(name, &st) == nil && int(st.Uid) == os.Geteuid():
			os.Remove(name)
		}
	}
}
