package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"stasis/internal/buildid"
	"stasis/internal/image"
	"stasis/internal/proc"
)

// SaveFiles says which mapped files an image carries (BLCR's --save-*): with
// them a restart works where those files differ or are missing. A mapping
// of a file that was already unlinked is always saved, as in BLCR.
type SaveFiles uint8

const (
	SaveExe     SaveFiles = 1 << iota // the executable
	SavePrivate                       // files mapped MAP_PRIVATE: the executable, libraries
	SaveShared                        // files mapped MAP_SHARED
	SaveNone    SaveFiles = 0
	SaveAll               = SaveExe | SavePrivate | SaveShared
)

// fileKey tells files apart: the device and inode /proc/PID/maps shows,
// or for an executable that no mapping shows, its own.
type fileKey struct {
	dev   string
	inode uint64
}

// mappedFiles is what one image knows of the files its processes map: an
// ID for each, the same in every process, and whether its contents are in
// the image yet.
type mappedFiles struct {
	save  SaveFiles
	byKey map[fileKey]*image.MappedFile
	// beforeSave, if set, runs before a file's contents are written into
	// the image: it waits until the image is written up to the process
	// being recorded (see writeOverlapped).
	beforeSave func() error
}

func newMappedFiles(save SaveFiles) *mappedFiles {
	return &mappedFiles{save: save, byKey: map[fileKey]*image.MappedFile{}}
}

// use is how one process uses one file: mapped privately, shared, run.
type use struct {
	key                           fileKey
	path                          string
	open                          func() (*os.File, error)
	deleted, private, shared, exe bool
}

// record gives the file mappings of vs (made from maps) and the
// executable of pid their file IDs, fills p.Files and p.ExeFile, and
// writes into w the contents of the files to be saved that the image does
// not hold yet. It must come before the process record, which names them.
func (fs *mappedFiles) record(pid int, maps []proc.Mapping, vs []image.VMA, p *image.Process, w *image.Writer) error {
	uses, order := mappedUses(pid, maps, vs)
	if err := exeUse(pid, p.Exe, uses, &order); err != nil {
		return err
	}
	ids := map[fileKey]int{}
	for _, k := range order {
		u := uses[k]
		save := u.deleted || u.exe && fs.save&SaveExe != 0 || u.private && fs.save&SavePrivate != 0 || u.shared && fs.save&SaveShared != 0
		mf, err := fs.file(pid, u.key, u.path, save, u.open, w)
		if err != nil {
			return err
		}
		if mf == nil {
			continue
		}
		ids[k] = mf.ID
		p.Files = append(p.Files, *mf)
		if u.exe {
			p.ExeFile = mf.ID
		}
	}
	for i := range vs {
		if vs[i].Kind == image.VMAFile {
			vs[i].File = ids[fileKey{vs[i].Dev, vs[i].Inode}]
		}
	}
	return nil
}

// memfdPrefix starts the name of a file a restart mapped from an image:
// it keeps its original path.
const memfdPrefix = "/memfd:stasis:"

// mappedUses collects the files that the file mappings of vs map, in
// address order.
func mappedUses(pid int, maps []proc.Mapping, vs []image.VMA) (map[fileKey]*use, []fileKey) {
	var order []fileKey
	uses := map[fileKey]*use{}
	byStart := map[uint64]proc.Mapping{}
	for _, m := range maps {
		byStart[m.Start] = m
	}
	for i := range vs {
		v := &vs[i]
		if v.Kind != image.VMAFile {
			continue
		}
		m := byStart[v.Start]
		k := fileKey{v.Dev, v.Inode}
		u := uses[k]
		if u == nil {
			path := strings.TrimPrefix(v.Path, memfdPrefix)
			u = &use{key: k, path: path, open: func() (*os.File, error) { return openMapped(pid, m) }}
			uses[k] = u
			order = append(order, k)
		}
		u.deleted = u.deleted || m.Deleted
		u.private = u.private || !v.Shared
		u.shared = u.shared || v.Shared
	}
	return uses, order
}

// exeUse marks the executable among uses, adding it if no mapping maps
// it. exeLink is /proc/PID/exe's target.
func exeUse(pid int, exeLink string, uses map[fileKey]*use, order *[]fileKey) error {
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	st, err := os.Stat(exe)
	if err != nil {
		return fmt.Errorf("pid %d: executable: %w", pid, err)
	}
	path, deleted := strings.CutSuffix(exeLink, " (deleted)")
	path = strings.TrimPrefix(path, memfdPrefix)
	ek := fileKey{"exe", st.Sys().(*syscall.Stat_t).Ino}
	for _, k := range *order { // the executable is usually mapped too
		if k.inode == ek.inode && (uses[k].path == path || uses[k].deleted && deleted) {
			ek = k
		}
	}
	if uses[ek] == nil {
		uses[ek] = &use{key: ek, path: path, open: func() (*os.File, error) { return os.Open(exe) }}
		*order = append(*order, ek)
	}
	uses[ek].exe = true
	uses[ek].deleted = uses[ek].deleted || deleted
	return nil
}

// file returns the image's record of the file at key, made on first use
// (size and build-id read from the file itself), and its contents written
// into w if save asks and the image does not hold them yet; nil if the
// file need not be saved and we may not read it.
func (fs *mappedFiles) file(pid int, key fileKey, path string, save bool, open func() (*os.File, error), w *image.Writer) (*image.MappedFile, error) {
	mf := fs.byKey[key]
	if mf != nil && (mf.Saved || !save) {
		return mf, nil
	}
	f, err := open()
	if err != nil && !save && mf == nil && errors.Is(err, os.ErrPermission) {
		// Mapped, but not readable by us (an execute-only file): no
		// build-id; a restart checks its size only, as VMA.FileSize.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pid %d: mapped file %s: %w", pid, path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pid %d: mapped file %s: %w", pid, path, err)
	}
	if !st.Mode().IsRegular() {
		// A device, say: its contents are not a file's; it is opened
		// again by path.
		save = false
	}
	if mf == nil {
		id := ""
		if st.Mode().IsRegular() {
			if id, err = buildid.Read(f); err != nil {
				return nil, fmt.Errorf("pid %d: mapped file %s: build-id: %w", pid, path, err)
			}
		}
		if len(fs.byKey) >= image.MaxFileID {
			return nil, fmt.Errorf("pid %d: more than %d mapped files", pid, image.MaxFileID)
		}
		mf = &image.MappedFile{ID: len(fs.byKey) + 1, Path: path, Size: st.Size(), BuildID: id}
		fs.byKey[key] = mf
	}
	if save {
		if fs.beforeSave != nil {
			if err := fs.beforeSave(); err != nil {
				return nil, err
			}
		}
		if err := w.SavedFile(*mf, f); err != nil {
			return nil, fmt.Errorf("pid %d: save %s: %w", pid, path, err)
		}
		mf.Saved = true
	}
	return mf, nil
}

// openMapped opens the file that mapping m of pid maps: through
// /proc/PID/map_files, which reaches it even if it was unlinked or
// replaced; without the privilege that needs, by its path, if that is
// still the same file.
func openMapped(pid int, m proc.Mapping) (*os.File, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, m.Start, m.End))
	if err == nil || !errors.Is(err, os.ErrPermission) {
		return f, err
	}
	if m.Deleted {
		return nil, fmt.Errorf("unlinked, and reading it through /proc/%d/map_files needs CAP_CHECKPOINT_RESTORE: %w", pid, err)
	}
	if f, err = os.Open(m.Path); err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Sys().(*syscall.Stat_t).Ino != m.Inode {
		err = fmt.Errorf("the file at that path is no longer the mapped one")
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
