package restart

import (
	"encoding/binary"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/proc"
)

var le = binary.LittleEndian

const pageSize = 4096

type span struct{ start, end uint64 }

// findHole returns the lowest page-aligned address at or above 4 GiB where
// size bytes overlap none of the spans.
func findHole(spans []span, size uint64) (uint64, error) {
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	at := uint64(1 << 32)
	for _, s := range spans {
		if s.end <= at {
			continue
		}
		if s.start >= at+size {
			break
		}
		at = (s.end + pageSize - 1) &^ (pageSize - 1)
	}
	if at+size > 0x7ff000000000 {
		return 0, fmt.Errorf("no free address range of %d bytes", size)
	}
	return at, nil
}

func imageSpans(p *image.Process) []span {
	var out []span
	for _, v := range p.VMAs {
		out = append(out, span{v.Start, v.End})
	}
	return out
}

func mapSpans(ms []proc.Mapping) []span {
	var out []span
	for _, m := range ms {
		out = append(out, span{m.Start, m.End})
	}
	return out
}

// specialKinds are the kernel's mappings that are moved, not created.
var specialKinds = map[string]string{
	"[vvar]": image.VMAVvar, "[vvar_vclock]": image.VMAVvarVclock, "[vdso]": image.VMAVdso,
}

// gateCode is the code at the start of the gate: syscall; int3. A call
// runs to the trap with one stop (ptrace.Remote.Trap).
var gateCode = []byte{0x0f, 0x05, 0xcc}

// gateSize is the restorer's working area in the new process: one page of
// code (the syscall instruction) and scratch memory for arguments.
const gateSize = 16 * pageSize

// clearLayout replaces the stub's address space in the new process by the
// gate area alone, plus the vDSO and vvar mappings moved to where the
// image had them.
//
// Precondition: called on the owner thread.
func (b *builder) clearLayout() error {
	cur, err := proc.ReadMaps(b.pid)
	if err != nil {
		return err
	}
	h, err := findHole(append(imageSpans(b.p), mapSpans(cur)...), 2*gateSize)
	if err != nil {
		return fmt.Errorf("pid %d: gate: %w", b.pid, err)
	}
	if _, err := b.call(unix.SYS_MMAP, h, gateSize, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0); err != nil {
		return fmt.Errorf("pid %d: map gate: %w", b.pid, err)
	}
	if err := b.mem.WriteAt(gateCode, h); err != nil {
		return err
	}
	b.setGate(h)
	// Move the kernel's special mappings out of the way, then drop all else.
	type special struct {
		kind       string
		start, end uint64
	}
	var have []special
	for _, m := range cur {
		if kind, ok := specialKinds[m.Path]; ok {
			have = append(have, special{kind, m.Start, m.End})
			continue
		}
		if m.Path == "[vsyscall]" {
			continue
		}
		b.later(fmt.Sprintf("unmap %#x-%#x %s", m.Start, m.End, m.Path), unix.SYS_MUNMAP, m.Start, m.End-m.Start)
	}
	want := map[string]image.VMA{}
	for _, v := range b.p.VMAs {
		if v.Kind == image.VMAVdso || v.Kind == image.VMAVvar || v.Kind == image.VMAVvarVclock {
			want[v.Kind] = v
		}
	}
	for _, s := range have {
		w, ok := want[s.kind]
		if !ok {
			if len(want) == 0 {
				continue // the image has no vDSO: leave ours where it is
			}
			return fmt.Errorf("pid %d: this kernel has a %s mapping that the image lacks: the checkpoint came from another kernel", b.pid, s.kind)
		}
		if w.End-w.Start != s.end-s.start {
			return fmt.Errorf("pid %d: %s is %d bytes in the image and %d bytes on this kernel: cannot restart on this kernel",
				b.pid, s.kind, w.End-w.Start, s.end-s.start)
		}
	}
	if len(want) != 0 && len(want) != len(have) {
		return fmt.Errorf("pid %d: the image has %d vDSO mappings, this kernel %d: cannot restart on this kernel", b.pid, len(want), len(have))
	}
	// Two moves: to a free area first, so no move lands on another special.
	tmp := h + gateSize
	for i, s := range have {
		if len(want) == 0 {
			break
		}
		b.later("move "+s.kind, unix.SYS_MREMAP, s.start, s.end-s.start, s.end-s.start,
			unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, tmp)
		have[i].start, have[i].end = tmp, tmp+(s.end-s.start)
		tmp = have[i].end
	}
	for _, s := range have {
		if len(want) == 0 {
			break
		}
		w := want[s.kind]
		b.later(fmt.Sprintf("move %s to %#x", s.kind, w.Start), unix.SYS_MREMAP, s.start, s.end-s.start, s.end-s.start,
			unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, w.Start)
	}
	return nil // the unmaps and moves run with the next call: nothing looks at the layout before
}
