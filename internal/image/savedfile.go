package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Saved files: the contents of a file that processes map or run, carried
// by the image (cr_checkpoint --save-*), so a restart does not need the
// file. One RecSavedFile record per file per image, whatever the number of
// processes that map it, written before the first process that names it.
// Its Arg is the file's MappedFile ID. Its payload, page-aligned, is one
// page of header (a little-endian uint32 length, then that many bytes of
// the MappedFile as JSON, then zeros) followed by the whole file, which
// therefore starts on a page boundary of the image and can be mapped from
// it.

const (
	maxSavedFile = 16<<30 + PageSize
	// MaxFileID bounds MappedFile IDs.
	MaxFileID = 1 << 20
	// SavedHeader is the size of a saved file's header; its contents
	// start this far into the record's payload.
	SavedHeader = PageSize
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
	if rec.Len < SavedHeader {
		return fmt.Errorf("saved file %d: %d bytes, shorter than its header", rec.Arg, rec.Len)
	}
	return nil
}

// SavedFile writes the contents of file m, m.Size bytes read from f. The
// contents are read twice (the checksum comes first); a file that changes
// in between fails with ErrFileChanged, and the image must then be
// abandoned.
func (w *Writer) SavedFile(m MappedFile, f io.ReaderAt) error {
	size := m.Size
	if m.ID <= 0 || m.ID > MaxFileID || size < 0 || size > maxSavedFile-SavedHeader {
		return fmt.Errorf("image: saved file %d (%s): %d bytes: out of range", m.ID, m.Path, size)
	}
	m.Saved = true
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(js) > SavedHeader-4 {
		return fmt.Errorf("image: saved file %d: path of %d bytes: too long", m.ID, len(m.Path))
	}
	hdr := make([]byte, SavedHeader)
	le.PutUint32(hdr, uint32(len(js)))
	copy(hdr[4:], js)
	pass, first := 0, uint32(0)
	return w.record(RecSavedFile, uint64(m.ID), true, SavedHeader+size, func(o io.Writer) error {
		pass++
		if _, err := o.Write(hdr); err != nil {
			return err
		}
		sum := &crcWriter{}
		n, err := io.Copy(io.MultiWriter(o, sum), io.NewSectionReader(f, 0, size))
		if err != nil {
			return fmt.Errorf("saved file %s: %w", m.Path, err)
		}
		if n != size {
			return fmt.Errorf("saved file %s: %d bytes, was %d: %w", m.Path, n, size, ErrFileChanged)
		}
		if pass == 1 {
			first = sum.crc
		} else if sum.crc != first {
			return fmt.Errorf("saved file %s: %w", m.Path, ErrFileChanged)
		}
		return nil
	})
}

// SavedFile reads the header of the saved file record just returned by
// Next; what Read returns after it is the file's contents, Size bytes.
func (r *Reader) SavedFile() (*MappedFile, error) {
	if r.cur.Type != RecSavedFile || r.left != r.cur.Len {
		return nil, fmt.Errorf("record %d is not a saved file at its start", r.n)
	}
	hdr := make([]byte, SavedHeader)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("saved file %d: header: %w", r.cur.Arg, err)
	}
	n := le.Uint32(hdr)
	var m MappedFile
	if n > SavedHeader-4 {
		return nil, fmt.Errorf("%w: saved file %d: header of %d bytes", ErrCorrupt, r.cur.Arg, n)
	}
	if err := json.Unmarshal(hdr[4:4+n], &m); err != nil {
		return nil, fmt.Errorf("%w: saved file %d: header: %v", ErrCorrupt, r.cur.Arg, err)
	}
	if uint64(m.ID) != r.cur.Arg || m.Size < 0 || uint64(m.Size) != r.cur.Len-SavedHeader || m.Path == "" || !m.Saved {
		return nil, fmt.Errorf("%w: saved file %d: header says file %d (%q) of %d bytes in a record of %d", ErrCorrupt,
			r.cur.Arg, m.ID, m.Path, m.Size, r.cur.Len-SavedHeader)
	}
	return &m, nil
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
