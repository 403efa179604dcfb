package checkpoint

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/proc"
)

const pageSize = 4096

// vmas turns the memory map into image VMAs, refusing mappings that an
// image cannot hold yet.
func vmas(pid int, maps []proc.Mapping, flags map[uint64][]string, known []image.FileID) ([]image.VMA, error) {
	var out []image.VMA
	imgs := imageFiles{}
	for _, id := range known {
		imgs[key(id)] = true
	}
	for _, m := range maps {
		v := image.VMA{Start: m.Start, End: m.End, Shared: m.Shared, Offset: m.Offset, Inode: m.Inode,
			Dev: fmt.Sprintf("%02x:%02x", m.Major, m.Minor)}
		if m.Read {
			v.Prot |= unix.PROT_READ
		}
		if m.Write {
			v.Prot |= unix.PROT_WRITE
		}
		if m.Exec {
			v.Prot |= unix.PROT_EXEC
		}
		for _, f := range flags[m.Start] {
			if f == "gd" {
				v.GrowsDown = true
			}
		}
		where := fmt.Sprintf("pid %d: mapping %#x-%#x %s", pid, m.Start, m.End, m.Path)
		if lazy, err := imgs.maps(pid, m); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		} else if lazy {
			v.Kind, v.FromImage, v.Offset, v.Inode, v.Dev = image.VMAAnon, true, 0, 0, ""
			out = append(out, v)
			continue
		}
		switch {
		case m.Path == "[vdso]":
			v.Kind = image.VMAVdso
		case m.Path == "[vvar]":
			v.Kind = image.VMAVvar
		case m.Path == "[vvar_vclock]":
			v.Kind = image.VMAVvarVclock
		case m.Path == "[vsyscall]":
			v.Kind = image.VMAVsyscall
		case m.Path == "" || m.Path == "[heap]" || m.Path == "[stack]" || strings.HasPrefix(m.Path, "[anon:"):
			v.Kind, v.Name = image.VMAAnon, m.Path
			if m.Shared {
				return nil, fmt.Errorf("%s: shared anonymous memory without a backing object: not supported", where)
			}
		case m.Deleted && strings.HasPrefix(m.Path, "/SYSV"):
			seg, err := proc.SysvShm(int(m.Inode)) // a segment's inode is its id
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			v.Kind, v.Path = image.VMASysv, m.Path
			v.Sysv = &image.SysvShm{Key: seg.Key, ID: seg.ID, Size: seg.Size, Mode: seg.Mode & 0o777,
				Uid: seg.Uid, Gid: seg.Gid, Removed: seg.Removed()}
		case m.Deleted && m.Shared:
			// Anonymous shared memory (/dev/zero), a memfd, an unlinked
			// file: one object, shared again by every process that maps it.
			v.Kind, v.Path = image.VMAShmem, m.Path
		case strings.HasPrefix(m.Path, "["):
			return nil, fmt.Errorf("%s: special mapping: not checkpointable", where)
		case m.Deleted:
			// A private mapping of an unlinked file or a memfd: its
			// contents are always saved (savedfiles.go).
			v.Kind, v.Path = image.VMAFile, m.Path
		default:
			v.Kind, v.Path = image.VMAFile, m.Path
			var st syscall.Stat_t
			if err := syscall.Stat(m.Path, &st); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if st.Ino != m.Inode {
				return nil, fmt.Errorf("%s: the file at that path is no longer the mapped one", where)
			}
			v.FileSize = st.Size
		}
		out = append(out, v)
	}
	return out, nil
}

// wanted says whether a page of v, described by its pagemap entry, belongs
// in the image: anonymous memory that was ever touched, and the private
// copies of file pages; never clean file pages, which the file holds.
func wanted(v *image.VMA, pm uint64) bool {
	switch v.Kind {
	case image.VMAShmem, image.VMASysv:
		// Whatever this process's page table says: a page of a shared
		// object can hold data no process has mapped (after fork, say).
		return true
	case image.VMAAnon:
		return v.FromImage || pm&(proc.PMPresent|proc.PMSwapped) != 0
	case image.VMAFile:
		if v.Shared {
			return false
		}
		return pm&proc.PMSwapped != 0 || pm&proc.PMPresent != 0 && pm&proc.PMFile == 0
	}
	return false
}

// chunk bounds how much memory is read into one buffer.
const chunk = 8 << 20

// pageRuns lists the runs of consecutive wanted pages, none longer than
// chunk.
func pageRuns(pid int, vs []image.VMA) ([]span, error) {
	pm, err := proc.OpenPagemap(pid)
	if err != nil {
		return nil, err
	}
	defer pm.Close()
	var runs []span
	var ents []uint64
	for i := range vs {
		v := &vs[i]
		if !wanted(v, proc.PMPresent|proc.PMSwapped) {
			continue // no page of this mapping is ever saved
		}
		for start := v.Start; start < v.End; start += chunk {
			end := min(start+chunk, v.End)
			if ents, err = pm.Read(start, end, ents); err != nil {
				return nil, err
			}
			for j := 0; j < len(ents); {
				if !wanted(v, ents[j]) {
					j++
					continue
				}
				k, own := j, true
				for k < len(ents) && wanted(v, ents[k]) {
					own = own && ownPage(ents[k])
					k++
				}
				runs = append(runs, span{start + uint64(j)*pageSize, start + uint64(k)*pageSize, own})
				j = k
			}
		}
	}
	return runs, nil
}

// ownPage says, of a page by its pagemap entry, whether it is private
// anonymous memory that is resident and mapped by this process alone, so
// that reading it with process_vm_readv copies nothing (ptrace.ReadOwnAt).
// Nothing running can make it shared again: only a fork by this process,
// which is frozen, or is a snapshot that forks no more.
func ownPage(pm uint64) bool {
	return pm&(proc.PMPresent|proc.PMExclusive|proc.PMFile) == proc.PMPresent|proc.PMExclusive
}

// span is a range of addresses; own says that every page in it is one
// this process alone maps (ownPage).
type span struct {
	start, end uint64
	own        bool
}
