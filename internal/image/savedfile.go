package image

import (
	"errors"
	"fmt"
	"io"
)

// Saved files: the contents of a file that processes map or run, carried
// by the image (cr_checkpoint --save-*), so a restart does not need the
// file. One RecSavedFile record per file per image, whatever the number of
// processes that map it; its Arg is the file's MappedFile ID and its
// payload, page-aligned so that it can be mapped from the image, is the
// whole file.

const (
	maxSavedFile = 16 << 30
	// MaxFileID bounds MappedFile IDs.
	MaxFileID = 1 << 20
)

// ErrFileChanged: a file being saved changed while it was read.
var ErrFileChanged = errors.New("the file changed while it was being saved")

// checkSavedFile checks a saved file's record header; off is where its
// payload starts.
func checkSavedFile(rec Record, off int64) error {
	if rec.Arg == 0 || rec.Arg > MaxFileID {
		return fmt.Errorf("saved file with id %d (1 to %d)", rec.Arg, MaxFileID)
	}
	if off%PageSize != 0 {
		return fmt.Errorf("saved file %d: contents not page-aligned", rec.Arg)
	}
	return nil
}

// SavedFile writes the contents of a file, size bytes read from f, as the
// saved file id. The contents are read twice (the checksum comes first);
// a file that changes in between fails with ErrFileChanged, and the image
// must then be abandoned.
func (w *Writer) SavedFile(id int, f io.ReaderAt, size int64) error {
	if id <= 0 || id > MaxFileID || size < 0 || size > maxSavedFile {
		return fmt.Errorf("image: saved file %d: %d bytes: out of range", id, size)
	}
	pass, first := 0, uint32(0)
	return w.record(RecSavedFile, uint64(id), true, size, func(o io.Writer) error {
		pass++
		sum := &crcWriter{}
		n, err := io.Copy(io.MultiWriter(o, sum), io.NewSectionReader(f, 0, size))
		if err != nil {
			return fmt.Errorf("saved file %d: %w", id, err)
		}
		if n != size {
			return fmt.Errorf("saved file %d: %d bytes, was %d: %w", id, n, size, ErrFileChanged)
		}
		if pass == 1 {
			first = sum.crc
		} else if sum.crc != first {
			return fmt.Errorf("saved file %d: %w", id, ErrFileChanged)
		}
		return nil
	})
}

// describeFiles lists the files a process maps or runs, for Describe.
func describeFiles(w io.Writer, p *Process) {
	for _, f := range p.Files {
		what := "mapped"
		if f.ID == p.ExeFile {
			what = "executable"
		}
		how := "expected at its path"
		if f.Saved {
			how = fmt.Sprintf("saved in the image (saved file %d)", f.ID)
		}
		id := "no build-id"
		if f.BuildID != "" {
			id = "build-id " + f.BuildID
		}
		fmt.Fprintf(w, "  %s file %s: %d bytes, %s, %s\n", what, f.Path, f.Size, id, how)
	}
}
