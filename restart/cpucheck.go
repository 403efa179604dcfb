package restart

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
)

// The xsave components, by bit of XCR0 and of an xsave area's xstate_bv
// (Intel SDM vol. 1, 13.1).
var xfeatures = []string{
	0: "x87", 1: "SSE", 2: "AVX", 3: "MPX", 4: "MPX", 5: "AVX-512", 6: "AVX-512", 7: "AVX-512",
	8: "Intel PT", 9: "protection keys (PKRU)", 10: "PASID", 11: "CET", 12: "CET", 13: "HDC",
	14: "user interrupts (UINTR)", 15: "LBR", 16: "HWP", 17: "AMX", 18: "AMX", 19: "APX",
}

// xstateBV is where an xsave area's xstate_bv lies: the first word of its
// header, after the 512-byte legacy area.
const xstateBV = 512

// CPUFeatureError reports that a thread of the image used xsave
// components (AVX-512, AMX, ...) that this machine does not give
// programs.
type CPUFeatureError struct {
	Pid, Tid int
	Missing  uint64 // the xstate_bv bits this machine lacks
	Have     uint64 // this machine's XCR0
	// Permitted: the process had asked for the features
	// (ARCH_REQ_XCOMP_PERM), whether or not its threads hold state in them.
	Permitted bool
}

func (e *CPUFeatureError) Error() string {
	uses := "uses"
	if e.Permitted {
		uses = "asked to use"
	}
	return fmt.Sprintf("pid %d thread %d: %s %s, which this machine's CPU lacks (xsave components %#x missing from XCR0 %#x): restart it on a machine that has them",
		e.Pid, e.Tid, uses, featureNames(e.Missing), e.Missing, e.Have)
}

const archReqXcompPerm = 0x1023 // ARCH_REQ_XCOMP_PERM

// xcompPerm asks, in the process, for the xsave features it had asked
// for (AMX's tile data): without them its saved xsave area cannot be put
// back, and its next AMX instruction would fault.
//
// Precondition: called on the owner thread.
func (b *builder) xcompPerm() error {
	def, err := kernel.XcompPerm()
	if err != nil || b.p.XcompPerm&^def == 0 {
		return nil // nothing beyond what every process may use (or an old kernel)
	}
	for bit := 0; bit < 64; bit++ {
		if b.p.XcompPerm&^def&(1<<bit) == 0 {
			continue
		}
		if _, err := b.call(unix.SYS_ARCH_PRCTL, archReqXcompPerm, uint64(bit)); err != nil {
			return fmt.Errorf("pid %d: arch_prctl(ARCH_REQ_XCOMP_PERM, %s): %w", b.pid, featureNames(1<<bit), err)
		}
	}
	return nil
}

// featureNames names the features of mask, each once.
func featureNames(mask uint64) string {
	var names []string
	seen := map[string]bool{}
	for bit := 0; bit < 64; bit++ {
		if mask&(1<<bit) == 0 {
			continue
		}
		name := fmt.Sprintf("xsave component %d", bit)
		if bit < len(xfeatures) && xfeatures[bit] != "" {
			name = xfeatures[bit]
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// checkXstate refuses an image whose threads hold state in xsave
// components this machine lacks: the kernel would refuse to load it, or
// the program would fault at its next instruction using them.
func checkXstate(p *image.Process) error {
	have, err := kernel.XFeatures()
	if err != nil {
		return fmt.Errorf("pid %d: this machine's xsave features: %w", p.Pid, err)
	}
	if missing := p.XcompPerm &^ have; missing != 0 {
		return &CPUFeatureError{Pid: p.Pid, Tid: p.Pid, Missing: missing, Have: have, Permitted: true}
	}
	for _, t := range p.Threads {
		if len(t.Xstate) < xstateBV+8 {
			continue // no xsave area saved (or only the legacy one)
		}
		if missing := le.Uint64(t.Xstate[xstateBV:]) &^ have; missing != 0 {
			return &CPUFeatureError{Pid: p.Pid, Tid: t.Tid, Missing: missing, Have: have}
		}
	}
	return nil
}
