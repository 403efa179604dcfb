package restart

import (
	"os"

	"stasis/namespace"
)

// PidMode says which pids and thread ids the restored processes get.
type PidMode int

const (
	// PidsRestore (the default, --restore-pid): the image's own pids and
	// thread ids. Where they cannot be had here (an ordinary user, whom
	// the kernel does not let choose pids, or a pid in use) the restart
	// goes into a new pid namespace, where they can (see RunInNamespace).
	PidsRestore PidMode = iota
	// PidsStrict (--restore-pid=strict): the image's pids in the caller's
	// pid namespace, or a *PidInUseError.
	PidsStrict
	// PidsNew (--no-restore-pid): whatever pids the kernel gives; every
	// pid the image holds is mapped from old to new.
	PidsNew
)

// pidMap maps the image's pids and thread ids to those of the restored
// processes. With the image's own pids it maps each to itself.
type pidMap map[int]int

// of returns what became of the image's pid or tid old (old itself if it
// is not one of the image's, such as a process group outside it).
func (m pidMap) of(old int) int {
	if n, ok := m[old]; ok {
		return n
	}
	return old
}

// want is the id to ask the kernel for, in place of the image's id old:
// old itself, or 0 (any) with new pids.
func (b *builder) want(old int) int {
	if b.opt.Pids == PidsNew {
		return 0
	}
	return old
}

// steerStub keeps the restorer stub, in a pid namespace of our own (we
// are its pid 1), off the pids the image needs: it would otherwise get
// the lowest free pid, which an image taken in a namespace of its own
// holds.
func steerStub() error {
	if os.Getpid() != 1 {
		return nil
	}
	return namespace.HighPids()
}
