package restart

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// sysvSegment makes (once per restore) the System V segment s with its
// old id: an existing segment with that id, key and size is taken as it
// is (a segment outlives its processes unless removed); otherwise the
// kernel is told the id to give next (shm_next_id, which needs root).
func (sh *shared) sysvSegment(s *image.SysvShm) error {
	if sh.sysv[s.ID] != nil {
		return nil
	}
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(s.ID, unix.IPC_STAT, &ds); err == nil {
		if ds.Perm.Key != s.Key || uint64(ds.Segsz) != s.Size {
			return fmt.Errorf("System V segment id %d is in use by another segment (key %#x, %d bytes)", s.ID, ds.Perm.Key, ds.Segsz)
		}
		sh.sysv[s.ID] = s
		return nil
	}
	if err := os.WriteFile("/proc/sys/kernel/shm_next_id", []byte(strconv.Itoa(s.ID)), 0); err != nil {
		return fmt.Errorf("System V segment %d: choose its id: %w", s.ID, err)
	}
	key := int(s.Key)
	if s.Removed {
		key = unix.IPC_PRIVATE
	}
	id, err := unix.SysvShmGet(key, int(s.Size), unix.IPC_CREAT|unix.IPC_EXCL|int(s.Mode&0o777))
	if err != nil {
		return fmt.Errorf("System V segment %d (key %#x): shmget: %w", s.ID, s.Key, err)
	}
	sh.made = append(sh.made, id)
	if id != s.ID {
		return fmt.Errorf("System V segment %d: the kernel gave id %d", s.ID, id)
	}
	ds.Perm.Uid, ds.Perm.Gid, ds.Perm.Mode = uint32(s.Uid), uint32(s.Gid), uint32(s.Mode&0o777)
	if _, err := unix.SysvShmCtl(id, unix.IPC_SET, &ds); err != nil {
		return fmt.Errorf("System V segment %d: owner: %w", id, err)
	}
	sh.sysv[s.ID] = s
	return nil
}

// unmake removes the segments this restore made, after a failure.
func (sh *shared) unmake() {
	for _, id := range sh.made {
		unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	}
}

// removeSysv marks for removal the segments that were, once every
// process has attached them.
func (sh *shared) removeSysv() error {
	var errs []error
	for id, s := range sh.sysv {
		if s.Removed {
			if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
				errs = append(errs, fmt.Errorf("System V segment %d: IPC_RMID: %w", id, err))
			}
		}
	}
	return errors.Join(errs...)
}

// sysvAttach attaches v's segment where the process had it (once for the
// VMAs a segment was split into), writable until fixProt.
//
// Precondition: called on the owner thread.
func (b *builder) sysvAttach(v *image.VMA) error {
	s := v.Sysv
	if s == nil || v.Offset > v.End || v.Start < v.Offset {
		return fmt.Errorf("System V mapping without its segment: image damaged")
	}
	if err := b.shared.sysvSegment(s); err != nil {
		return err
	}
	at := v.Start - v.Offset
	if b.attached == nil {
		b.attached = map[uint64]bool{}
	}
	if b.attached[at] {
		return nil
	}
	b.attached[at] = true
	if _, err := b.call(unix.SYS_SHMAT, uint64(s.ID), at, 0); err != nil {
		return fmt.Errorf("shmat(%d) at %#x: %w", s.ID, at, err)
	}
	return nil
}
