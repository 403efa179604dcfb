package restart

import (
	"errors"
	"fmt"
	"os"

	"stasis/internal/buildid"
	"stasis/internal/image"
)

// FileChangedError reports that a file a process maps or runs is not what
// it was at checkpoint: gone, of another size, of another build. A restart
// here would crash later, or run other code; it is refused before anything
// is built. It wraps ErrFileChanged, and Err, the errno when the file
// could not be reached (ENOENT when it vanished: errors.Is(err,
// os.ErrNotExist) holds).
type FileChangedError struct {
	Pid    int
	Path   string
	Reason string
	Hint   string // the --save-* option that would have carried it
	Err    error
}

func (e *FileChangedError) Error() string {
	s := fmt.Sprintf("pid %d: %s: %s", e.Pid, e.Path, e.Reason)
	if e.Hint != "" {
		s += " (checkpoint with " + e.Hint + " to carry it in the image)"
	}
	return s
}

func (e *FileChangedError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrFileChanged}
	}
	return []error{ErrFileChanged, e.Err}
}

// checkFiles checks every file p maps or runs that the image does not
// carry against what the image says of it; a file the image carries must
// have been read already.
func checkFiles(p *image.Process, saved savedFiles) error {
	return checkFilesOnce(p, saved, nil)
}

// checkFilesOnce is checkFiles, skipping the files that seen says an
// earlier process of the same restart found as its image expects (the
// processes of a tree map the same libraries), and adding those it finds
// so to seen (nil: none).
func checkFilesOnce(p *image.Process, saved savedFiles, seen map[string]bool) error {
	check := func(path string, size int64, id, hint string) error {
		key := fmt.Sprintf("%s\x00%d\x00%s\x00%s", path, size, id, hint)
		if seen[key] {
			return nil
		}
		if err := checkFile(p.Pid, path, size, id, hint); err != nil {
			return err
		}
		if seen != nil {
			seen[key] = true
		}
		return nil
	}
	hints := map[int]string{}
	for _, v := range p.VMAs {
		if v.Kind != image.VMAFile {
			continue
		}
		hint := "--save-private"
		if v.Shared {
			hint = "--save-shared"
		}
		if v.File == 0 { // an image without file records: size only
			if err := check(v.Path, v.FileSize, "", hint); err != nil {
				return err
			}
			continue
		}
		if hints[v.File] == "" {
			hints[v.File] = hint
		}
	}
	hints[p.ExeFile] = "--save-exe"
	for _, f := range p.Files {
		if f.ID <= 0 || f.ID > image.MaxFileID {
			return fmt.Errorf("image: pid %d: file %s with id %d: image damaged", p.Pid, f.Path, f.ID)
		}
		if f.Saved {
			if saved[f.ID] == nil {
				return fmt.Errorf("image: pid %d: %s: saved in the image, but its contents are not before the process: image damaged", p.Pid, f.Path)
			}
			continue
		}
		if err := check(f.Path, f.Size, f.BuildID, hints[f.ID]); err != nil {
			return err
		}
	}
	return nil
}

// checkFile compares the file at path with its size and build-id at
// checkpoint.
func checkFile(pid int, path string, size int64, id, hint string) error {
	fail := func(reason string, err error) error {
		return &FileChangedError{Pid: pid, Path: path, Reason: reason, Hint: hint, Err: err}
	}
	bare := func(err error) error {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fail("no such file: it vanished since the checkpoint", bare(err))
	}
	if err != nil {
		return fail(bare(err).Error(), bare(err))
	}
	if st.Size() != size {
		return fail(fmt.Sprintf("size %d, was %d at checkpoint: the file changed", st.Size(), size), nil)
	}
	if !st.Mode().IsRegular() {
		return nil // a device: no build to compare
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(bare(err).Error(), bare(err))
	}
	defer f.Close()
	now, err := buildid.Read(f)
	if err != nil {
		return fail(fmt.Sprintf("read its build-id: %v", err), err)
	}
	if now != id {
		return fail(fmt.Sprintf("build-id %s, was %s at checkpoint: another build of the file", orNone(now), orNone(id)), nil)
	}
	return nil
}

func orNone(id string) string {
	if id == "" {
		return "(none)"
	}
	return id
}
