package restart

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// Saved files (cr_checkpoint --save-*): each RecSavedFile record is copied
// into a memfd of ours as it is read, before the first process that maps
// it; that process, and every later one, maps the memfd where it mapped
// the file, and runs it as its executable if it was that. The file at the
// original path, if any, is never opened nor changed: writes to a saved
// file mapped MAP_SHARED go to the memfd, shared by the processes of the
// image that map it (BLCR's meaning: "if there is a file at the original
// location it remains untouched by the restart").

// savedFiles are the saved files read so far, by ID.
type savedFiles map[int]*os.File

func (s savedFiles) close() {
	for _, f := range s {
		f.Close()
	}
}

// load reads the saved file record rd has just returned into a memfd.
func (s savedFiles) load(rd *image.Reader) error {
	m, err := rd.SavedFile()
	if err != nil {
		return err
	}
	if s[m.ID] != nil {
		return fmt.Errorf("image: saved file %d (%s) appears twice: image damaged", m.ID, m.Path)
	}
	name := "stasis:" + m.Path
	if len(name) > 240 {
		name = name[:240]
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_EXEC)
	if err != nil {
		// vm.memfd_noexec forbids MFD_EXEC: a memfd that can still be
		// mapped with PROT_EXEC, but not run.
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	}
	if err != nil {
		return fmt.Errorf("saved file %s: %w", m.Path, os.NewSyscallError("memfd_create", err))
	}
	f := os.NewFile(uintptr(fd), name)
	n, err := io.Copy(f, rd)
	if err == nil && n != m.Size {
		err = fmt.Errorf("%d bytes of %d", n, m.Size)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("image: saved file %s: %w", m.Path, err)
	}
	s[m.ID] = f
	return nil
}

// nextProcess reads saved files up to the next process record, which it
// returns (nil at the end of the image).
func (s savedFiles) nextProcess(ir *image.Reader) (*image.Record, error) {
	for {
		rec, err := ir.Next()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		switch rec.Type {
		case image.RecProcess:
			return &rec, nil
		case image.RecSavedFile:
			if err := s.load(ir); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("image: a record of type %d where a process was expected: image damaged", rec.Type)
		}
	}
}

// savedFile returns the memfd holding file id of the process, or nil if
// the image does not carry that file for it.
func (b *builder) savedFile(id int) *os.File {
	if id == 0 {
		return nil
	}
	for _, f := range b.p.Files {
		if f.ID == id && f.Saved {
			return b.shared.saved[id]
		}
	}
	return nil
}

// keepExe, as PR_SET_MM_MAP's exe_fd, keeps the executable.
const keepExe = 0xffffffff

// exeFd returns an fd in the process on its executable, or keepExe if the
// process runs it already (a child forked from its restored parent: the
// kernel refuses to replace an executable that is mapped, and it is).
//
// Precondition: called on the owner thread.
func (b *builder) exeFd() (uint64, error) {
	saved := b.savedFile(b.p.ExeFile)
	cur, err1 := os.Stat(fmt.Sprintf("/proc/%d/exe", b.pid))
	var want os.FileInfo
	var err2 error
	if saved != nil {
		want, err2 = saved.Stat()
	} else {
		want, err2 = os.Stat(b.p.Exe)
	}
	if err1 == nil && err2 == nil && os.SameFile(cur, want) {
		return keepExe, nil
	}
	var fd uint64
	var err error
	if saved != nil {
		fd, err = b.receiveFd(saved)
	} else {
		fd, err = b.open(b.p.Exe, unix.O_RDONLY)
	}
	if err != nil {
		return 0, fmt.Errorf("pid %d: executable %s: %w", b.pid, b.p.Exe, err)
	}
	return fd, nil
}
