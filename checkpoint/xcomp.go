package checkpoint

import (
	"fmt"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

const archGetXcompPerm = 0x1022 // ARCH_GET_XCOMP_PERM

// xcompPerm reads the xsave features the process has permission to use
// (arch_prctl(ARCH_GET_XCOMP_PERM)): AMX's tile data must be asked for
// before it is used, and a restored process needs the same permission.
//
// Precondition: called on the owner thread, with the scratch page mapped.
func (a *asker) xcompPerm(p *image.Process) error {
	b, err := a.callRead(a.leader, 8, unix.SYS_ARCH_PRCTL, archGetXcompPerm, a.scratch)
	if err != nil {
		return fmt.Errorf("pid %d: arch_prctl(ARCH_GET_XCOMP_PERM): %w", a.pid, err)
	}
	p.XcompPerm = le.Uint64(b)
	return nil
}
