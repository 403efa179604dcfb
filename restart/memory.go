package restart

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/ptrace"
)

// mapVMAs creates every mapping of the image at its address. Mappings that
// receive page data but are not writable get PROT_WRITE until the data is
// in, where /proc/PID/mem cannot force a write (shared memory).
//
// Precondition: called on the owner thread.
func (b *builder) mapVMAs() error {
	var err error
	if b.vmas, err = image.NewVMAIndex(b.p.VMAs); err != nil {
		return fmt.Errorf("pid %d: %w", b.pid, err)
	}
	files, err := b.openMappedFiles()
	defer func() {
		for _, fd := range files {
			b.laterOK(anyErrno, "close", unix.SYS_CLOSE, fd)
		}
	}()
	if err != nil {
		return err
	}
	for i := range b.p.VMAs {
		v := &b.p.VMAs[i]
		where := fmt.Sprintf("pid %d: mapping %#x-%#x", b.pid, v.Start, v.End)
		if v.Start >= v.End || v.Start%pageSize != 0 || v.End%pageSize != 0 {
			return fmt.Errorf("%s: not page-aligned: image damaged", where)
		}
		prot := uint64(v.Prot)
		flags := uint64(unix.MAP_FIXED | unix.MAP_PRIVATE)
		if v.Shared {
			flags = unix.MAP_FIXED | unix.MAP_SHARED
		}
		if v.GrowsDown {
			flags |= unix.MAP_GROWSDOWN
		}
		fd := ^uint64(0)
		switch v.Kind {
		case image.VMAVdso, image.VMAVvar, image.VMAVvarVclock, image.VMAVsyscall:
			continue
		case image.VMAAnon:
			flags |= unix.MAP_ANONYMOUS
		case image.VMASysv:
			if err := b.sysvAttach(v); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			continue
		case image.VMAShmem:
			// One object for every process of the image that maps it.
			var err error
			if fd, err = b.shmFd(v); err != nil {
				return fmt.Errorf("%s: shared memory: %w", where, err)
			}
			defer b.laterOK(anyErrno, "close", unix.SYS_CLOSE, fd)
			prot |= unix.PROT_WRITE
		case image.VMAFile:
			fd = files[mappedKey(v)]
		default:
			return fmt.Errorf("%s: unknown kind %q: image damaged", where, v.Kind)
		}
		b.later(fmt.Sprintf("mapping %#x-%#x %s: mmap", v.Start, v.End, v.Path), unix.SYS_MMAP, v.Start, v.End-v.Start, prot, flags, fd, v.Offset)
	}
	return nil // the next call, or the flush at the end of build, makes the mappings
}

// mappedKey names the file a file mapping maps, with the mode it is
// opened with for it.
func mappedKey(v *image.VMA) string {
	return fmt.Sprintf("%d:%s:%d", mappedMode(v), v.Path, v.File)
}

func mappedMode(v *image.VMA) uint64 {
	if v.Shared && v.Prot&unix.PROT_WRITE != 0 {
		return unix.O_RDWR
	}
	return unix.O_RDONLY
}

// openMappedFiles opens in the process every file its mappings map, once
// for each mode, and returns their fds there by mappedKey. The opens by
// path go in one batch; a file the image saved is passed.
//
// Precondition: called on the owner thread.
func (b *builder) openMappedFiles() (map[string]uint64, error) {
	files := map[string]uint64{}
	type opening struct {
		v   *image.VMA
		key string
		fd  uint64
	}
	var opens []*opening
	queued := map[string]bool{}
	for i := range b.p.VMAs {
		v := &b.p.VMAs[i]
		if v.Kind != image.VMAFile {
			continue
		}
		key := mappedKey(v)
		if _, ok := files[key]; ok || queued[key] {
			continue
		}
		if f := b.savedFile(v.File); f != nil {
			fd, err := b.receiveFd(f)
			if err != nil {
				return files, fmt.Errorf("pid %d: mapping %#x-%#x: %s: %w", b.pid, v.Start, v.End, v.Path, err)
			}
			files[key] = fd
			continue
		}
		if len(v.Path) >= 4000 {
			return files, fmt.Errorf("pid %d: mapping %#x-%#x: %s: path too long", b.pid, v.Start, v.End, v.Path)
		}
		o := &opening{v: v, key: key}
		queued[key] = true
		opens = append(opens, o)
		b.laterResult(&o.fd, anyErrno, "", unix.SYS_OPENAT, atFdcwd, b.laterData(append([]byte(v.Path), 0)), mappedMode(v), 0)
	}
	if len(opens) == 0 {
		return files, nil
	}
	if err := b.flush(); err != nil {
		return files, err // the opens' results are unknown: nothing to close
	}
	var err error
	for _, o := range opens {
		e := int64(o.fd)
		if e >= 0 {
			files[o.key] = o.fd
		} else if err == nil {
			v := o.v
			err = fmt.Errorf("pid %d: mapping %#x-%#x: %s: %w", b.pid, v.Start, v.End, v.Path, &ptrace.Errno{Nr: unix.SYS_OPENAT, Errno: unix.Errno(-e)})
		}
	}
	return files, err
}

// fixProt gives the mappings that were made writable for filling their
// final protection.
func (b *builder) fixProt() error {
	for _, v := range b.p.VMAs {
		if (v.Kind == image.VMAShmem || v.Kind == image.VMASysv) && v.Prot&unix.PROT_WRITE == 0 {
			if _, err := b.call(unix.SYS_MPROTECT, v.Start, v.End-v.Start, uint64(v.Prot)); err != nil {
				return fmt.Errorf("pid %d: mapping %#x: mprotect: %w", b.pid, v.Start, err)
			}
		}
	}
	return nil
}

// vmaOf is the image mapping that holds [addr, addr+n), or nil. mapVMAs
// made the index.
func (b *builder) vmaOf(addr, n uint64) *image.VMA {
	if b.vmas == nil {
		return nil
	}
	return b.vmas.Find(addr, n)
}

// inVMA reports whether [addr, addr+n) lies in one mapping that takes pages.
func (b *builder) inVMA(addr, n uint64) bool {
	v := b.vmaOf(addr, n)
	return v != nil && (v.Kind == image.VMAAnon || v.Kind == image.VMAShmem || v.Kind == image.VMAFile || v.Kind == image.VMASysv)
}

// fillPages copies one pages record into the new process.
func (b *builder) fillPages(rec image.Record, rd io.Reader) error {
	if !b.inVMA(rec.Arg, rec.Len) {
		return fmt.Errorf("image: pages %#x-%#x lie outside the process's mappings: image damaged", rec.Arg, rec.Arg+rec.Len)
	}
	if ir, ok := rd.(*image.Reader); ok {
		if done, err := b.pagesInPlace(rec, ir); done || err != nil {
			return err
		}
	}
	buf := b.shared.copyBuf()
	for off := uint64(0); off < rec.Len; {
		n := min(uint64(len(buf)), rec.Len-off)
		if _, err := io.ReadFull(rd, buf[:n]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("image: pages at %#x: %w", rec.Arg+off, err)
		}
		if err := b.mem.WriteAt(buf[:n], rec.Arg+off); err != nil {
			return err
		}
		off += n
	}
	// Reach the end of the payload so the reader checks its checksum.
	if _, err := rd.Read(buf[:1]); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("pages record longer than announced")
		}
		return fmt.Errorf("image: pages at %#x: %w", rec.Arg, err)
	}
	return nil
}

// prctl_mm_map field order; exe_fd last.
func (b *builder) setMM() error {
	mm := b.p.MM
	if len(mm.Auxv) > 4096 || len(mm.Auxv)%8 != 0 {
		return fmt.Errorf("pid %d: auxv of %d bytes: image damaged", b.pid, len(mm.Auxv))
	}
	exe, err := b.exeFd()
	if err != nil {
		return err
	}
	if exe != keepExe {
		defer b.laterOK(anyErrno, "close", unix.SYS_CLOSE, exe)
	}
	auxv := b.scratch + 2048
	if err := b.mem.WriteAt(mm.Auxv, auxv); err != nil {
		return err
	}
	m := make([]byte, 104)
	for i, v := range []uint64{mm.StartCode, mm.EndCode, mm.StartData, mm.EndData, mm.StartBrk, mm.Brk,
		mm.StartStack, mm.ArgStart, mm.ArgEnd, mm.EnvStart, mm.EnvEnd, auxv} {
		le.PutUint64(m[8*i:], v)
	}
	le.PutUint32(m[96:], uint32(len(mm.Auxv)))
	le.PutUint32(m[100:], uint32(exe))
	if err := b.mem.WriteAt(m, b.scratch); err != nil {
		return err
	}
	_, err = b.call(unix.SYS_PRCTL, unix.PR_SET_MM, unix.PR_SET_MM_MAP, b.scratch, 104, 0)
	if errors.Is(err, unix.EPERM) && exe != keepExe {
		// Replacing the executable needs CAP_CHECKPOINT_RESTORE, which an
		// ordinary user has only in a user namespace of its own.
		if err = b.setMMKeepingExe(m); err == nil {
			b.out.Notes = append(b.out.Notes, fmt.Sprintf("pid %d: /proc/%d/exe shows the restorer, not %s: only root, or a restart with --restore-pid, may set it", b.pid, b.pid, b.p.Exe))
		}
	}
	if err != nil {
		return fmt.Errorf("pid %d: prctl(PR_SET_MM_MAP): %w", b.pid, err)
	}
	return nil
}

// setMMKeepingExe runs PR_SET_MM_MAP with the struct m again, leaving the
// executable as it is.
func (b *builder) setMMKeepingExe(m []byte) error {
	le.PutUint32(m[100:], uint32(keepExe))
	if err := b.mem.WriteAt(m, b.scratch); err != nil {
		return err
	}
	_, err := b.call(unix.SYS_PRCTL, unix.PR_SET_MM, unix.PR_SET_MM_MAP, b.scratch, 104, 0)
	return err
}

// open opens path in the new process and returns the fd there.
func (b *builder) open(path string, flags uint64, mode ...uint64) (uint64, error) {
	if len(path) >= 4000 {
		return 0, fmt.Errorf("path too long")
	}
	if err := b.mem.WriteAt(append([]byte(path), 0), b.scratch+4096); err != nil {
		return 0, err
	}
	m := uint64(0)
	if len(mode) > 0 {
		m = mode[0]
	}
	return b.call(unix.SYS_OPENAT, atFdcwd, b.scratch+4096, flags, m)
}
