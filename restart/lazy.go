package restart

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/compress"
	"stasis/internal/image"
)

// Page data of an image read from a regular, uncompressed file need not
// pass through cr_restart. A pages record of anonymous private memory is
// mapped from the image (MAP_PRIVATE|MAP_FIXED), so it loads as it is
// touched (lazy); or, with NoLazy, the process reads it itself with one
// pread64 into its memory. Either way cr_restart checks every such
// record's checksum before the process runs (verify.go), unless
// Unverified. Stacks (MAP_GROWSDOWN) and executable memory are read in
// place even when lazy; small records, and memory that is not writable
// anonymous memory, are copied as from a stream. The mappings are made in
// batches (batch.go).

const (
	// mapMin is the smallest record mapped or read in place: below it the
	// remote system calls cost more than the copy.
	mapMin = 64 << 10
	// mapMax bounds the records one process maps, so that its mappings
	// stay well under vm.max_map_count (each record may split a mapping
	// in three); the rest is read in place.
	mapMax = 8192
)

// imageFile is the image being restored, when it is a regular file read
// by path; the builders share it.
type imageFile struct {
	f      *os.File
	lazy   bool // map page data from the file
	verify bool // check every mapped record's checksum before the processes run
	size   int64
	*verifier
}

// openImageFile returns the image reader for f, and the imageFile through
// which its processes take their pages, or nil when f is not a regular
// file or is compressed: then pages are copied from a stream.
func openImageFile(f *os.File, lazy, verify bool) (*image.Reader, image.Header, *imageFile, error) {
	var hd image.Header
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, hd, nil, nil
	}
	head := make([]byte, len(image.Magic))
	if n, _ := f.ReadAt(head, 0); n < len(head) || !bytes.Equal(head, []byte(image.Magic)) {
		return nil, hd, nil, nil // compressed, or not an image: the stream path says which
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, hd, nil, nil
	}
	ir, hd, err := image.NewReader(f)
	if err != nil || hd.Flags&image.FlagPart != 0 {
		return nil, hd, nil, err
	}
	verify = verify || !lazy
	img := &imageFile{f: f, lazy: lazy, verify: verify, size: st.Size(), verifier: newVerifier(f, st.Size(), verify)}
	return ir, hd, img, nil
}

// wait waits for every check of the image's checksums and returns what
// failed.
func (img *imageFile) wait() error {
	if img == nil {
		return nil
	}
	return img.verifier.wait()
}

// readerFor is the image reader for r: from a regular file that can be
// read at offsets when opt.FromFile, otherwise from a stream.
func readerFor(r io.Reader, opt Options) (*image.Reader, image.Header, *imageFile, error) {
	if f, ok := r.(*os.File); ok && opt.FromFile {
		ir, hd, img, err := openImageFile(f, !opt.NoLazy, !opt.Unverified)
		if ir != nil || err != nil || hd.Flags&image.FlagPart != 0 {
			return ir, hd, img, err
		}
	}
	r, err := compress.Reader(r)
	if err != nil {
		return nil, image.Header{}, nil, err
	}
	ir, hd, err := image.NewReader(r)
	return ir, hd, nil, err
}

// pagesInPlace maps or reads the pages record rec from the image file
// into the process, and reports whether it did; if not, the caller
// copies the record.
//
// Precondition: called on the owner thread.
func (b *builder) pagesInPlace(rec image.Record, ir *image.Reader) (bool, error) {
	v := b.vmaOf(rec.Arg, rec.Len)
	if b.img == nil || rec.Len < mapMin || v == nil || v.Kind != image.VMAAnon || v.Shared || v.GrowsDown {
		return false, nil
	}
	fd, err := b.imageFd()
	if err != nil {
		return false, err
	}
	// Executable memory is read: the image's file system may be mounted
	// noexec.
	if b.img.lazy && b.mapped < mapMax && v.Prot&unix.PROT_EXEC == 0 {
		b.maps = append(b.maps, call{nr: unix.SYS_MMAP, args: [6]uint64{rec.Arg, rec.Len, uint64(v.Prot),
			unix.MAP_PRIVATE | unix.MAP_FIXED, fd, uint64(rec.Offset)}})
		b.mapped++
		if len(b.maps) == batchMax {
			if err := b.flushMaps(); err != nil {
				return true, err
			}
		}
		if !b.img.verify {
			return true, ir.Skip()
		}
		return true, b.queueCheck(rec, ir)
	}
	if v.Prot&unix.PROT_WRITE == 0 {
		return false, nil
	}
	if err := b.queueCheck(rec, ir); err != nil {
		return false, err
	}
	for off := uint64(0); off < rec.Len; {
		n, err := b.call(unix.SYS_PREAD64, fd, rec.Arg+off, rec.Len-off, uint64(rec.Offset)+off)
		if err != nil {
			return true, fmt.Errorf("pid %d: image pages at %#x: pread64: %w", b.pid, rec.Arg+off, err)
		}
		if n == 0 {
			return true, fmt.Errorf("pid %d: image pages at %#x: %w", b.pid, rec.Arg+off, image.ErrTruncated)
		}
		off += n
	}
	return true, nil
}

// imageFd is the image's fd in the process, given to it on first use and
// closed by closeImage.
//
// Precondition: called on the owner thread.
func (b *builder) imageFd() (uint64, error) {
	if b.imgFd != 0 {
		return b.imgFd - 1, nil
	}
	fd, err := b.receiveFd(b.img.f)
	if err != nil {
		return 0, fmt.Errorf("pid %d: giving it the image: %w", b.pid, err)
	}
	b.imgFd = fd + 1
	if b.imgHigh == 0 {
		// A copy above the image's fd numbers, queued with the mappings,
		// lasts until finish, for the children forked from the process
		// to inherit (inheritFds).
		b.laterResult(&b.imgHigh, 0, "keep the image's fd", unix.SYS_FCNTL, fd, unix.F_DUPFD_CLOEXEC, uint64(b.top))
	}
	return fd, nil
}

// flushMaps makes the mappings of the image that are waiting.
//
// Precondition: called on the owner thread.
func (b *builder) flushMaps() error {
	if len(b.queue)+len(b.maps) < batchMax-1 {
		// With what is queued: one stop for both.
		for _, m := range b.maps {
			a := m.args
			b.queue = append(b.queue, queued{m, fmt.Sprintf("mapping the image at %#x-%#x (cr_restart --no-lazy copies instead)", a[0], a[0]+a[1]), nil})
		}
		b.maps = b.maps[:0]
		return b.flush()
	}
	if err := b.flush(); err != nil { // the same table
		return err
	}
	maps := b.maps
	b.maps = b.maps[:0]
	if i, err := b.runBatch(maps); err != nil {
		if i >= 0 {
			a := maps[i].args
			err = fmt.Errorf("pid %d: mapping the image at %#x-%#x: %w (cr_restart --no-lazy copies instead)", b.pid, a[0], a[0]+a[1], err)
		}
		return err
	}
	return nil
}

// endImage makes the mappings of the image still waiting, after the
// process's last record, and closes the image's fd in the process: its
// mappings keep the file open.
//
// Precondition: called on the owner thread.
func (b *builder) endImage() error {
	err := b.flushMaps()
	b.closeImage()
	return err
}

// closeImage closes the image's fd in the process.
//
// Precondition: called on the owner thread.
func (b *builder) closeImage() {
	if b.imgFd != 0 && b.imgFd-1 != b.imgHigh {
		b.laterOK(anyErrno, "close", unix.SYS_CLOSE, b.imgFd-1)
		b.imgFd = 0
	}
}
