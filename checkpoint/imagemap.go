package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/proc"
)

// A lazy restart (restart/lazy.go) maps page data from the image into the
// restored process, MAP_PRIVATE. /proc shows such memory as a mapping of
// the image file, but to the program it is anonymous memory; and its pages
// that were never touched are not in the page tables, yet hold the
// program's data. A checkpoint recognises these mappings by the file's
// magic and saves every page of them.

// imageFiles remembers which mapped files are stasis images, by device
// and inode, for one checkpoint.
type imageFiles map[string]bool

func key(id image.FileID) string { return fmt.Sprintf("%d:%d:%d", id.Major, id.Minor, id.Ino) }

// maps reports whether m is a private mapping of a stasis image.
func (c imageFiles) maps(pid int, m proc.Mapping) (bool, error) {
	if m.Shared || m.Path == "" || m.Path[0] != '/' {
		return false, nil
	}
	k := key(image.FileID{Major: m.Major, Minor: m.Minor, Ino: m.Inode})
	if is, ok := c[k]; ok {
		return is, nil
	}
	is, err := isImage(pid, m)
	if err != nil {
		return false, err
	}
	c[k] = is
	return is, nil
}

// isImage opens the file m maps, by its path when that still names it,
// else through /proc/PID/map_files, and reads its magic.
func isImage(pid int, m proc.Mapping) (bool, error) {
	if !m.Deleted {
		if f, err := openMappedRegular(m.Path, m); err == nil {
			defer f.Close()
			return hasMagic(f)
		}
	}
	link := fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, m.Start, m.End)
	f, err := openMappedRegular(link, m)
	if errors.Is(err, os.ErrPermission) {
		return false, fmt.Errorf("the mapped file was removed or replaced, and telling whether it is the image of a lazy restart "+
			"needs %s, which only root (CAP_CHECKPOINT_RESTORE) may open (restart with cr_restart --no-lazy to avoid this): %w", link, err)
	}
	if err != nil {
		if !m.Deleted {
			return false, nil // the checks of file mappings say what is wrong
		}
		return false, err
	}
	defer f.Close()
	return hasMagic(f)
}

// openMappedRegular opens path if it is the regular file m maps; it never blocks
// on a device or FIFO.
func openMappedRegular(path string, m proc.Mapping) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != m.Inode ||
		unix.Major(st.Dev) != m.Major || unix.Minor(st.Dev) != m.Minor {
		f.Close()
		return nil, fmt.Errorf("%s: not the mapped file", path)
	}
	return f, nil
}

func hasMagic(f *os.File) (bool, error) {
	b := make([]byte, len(image.Magic))
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return n == len(b) && string(b) == image.Magic, nil
}
