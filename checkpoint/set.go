package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/ptrace"
)

// Set is the frozen processes of one checkpoint, parents before children.
type Set struct {
	owner *ptrace.Owner
	procs []*Frozen
}

// maxRounds bounds the freeze loop: each round freezes what appeared since
// the last, and a frozen process makes no more children.
const maxRounds = 64

// FreezeAll freezes the processes resolve names, then asks again and
// freezes any that appeared meanwhile (a child forked before its parent
// stopped), until the answer holds no process that is not frozen. resolve
// must return parents before children.
func FreezeAll(owner *ptrace.Owner, resolve func() ([]int, error), opt Options) (*Set, error) {
	set := &Set{owner: owner}
	frozen := map[int]*Frozen{}
	opt.zombies = true
	for round := 0; round <= maxRounds; round++ {
		pids, err := resolve()
		if err != nil {
			return nil, errors.Join(err, set.Release(0))
		}
		grew := false
		for _, pid := range pids {
			if frozen[pid] != nil {
				continue
			}
			f, err := Freeze(owner, pid, opt)
			if err != nil && gone(pid) {
				grew = true // it exited and was reaped meanwhile: ask again
				continue
			}
			if err == nil && f.zombie && !slices.Contains(pids, f.stat.PPid) {
				err = fmt.Errorf("pid %d (%s): zombie whose parent, pid %d, is not saved with it: nothing left to checkpoint", pid, f.stat.Comm, f.stat.PPid)
			}
			if err != nil {
				return nil, errors.Join(err, set.Release(0))
			}
			frozen[pid] = f
			set.procs = append(set.procs, f)
			grew = true
		}
		if grew {
			continue
		}
		if len(pids) != len(set.procs) {
			// A frozen process left the scope (killed from outside).
			return nil, errors.Join(fmt.Errorf("a process left the scope while it was being frozen"), set.Release(0))
		}
		set.procs = set.procs[:0]
		for _, pid := range pids {
			set.procs = append(set.procs, frozen[pid])
		}
		return set, nil
	}
	return nil, errors.Join(fmt.Errorf("the scope kept growing through %d rounds of freezing (a fork bomb?)", maxRounds), set.Release(0))
}

// Pids lists the processes, parents first.
func (s *Set) Pids() []int {
	var out []int
	for _, f := range s.procs {
		out = append(out, f.pid)
	}
	return out
}

// Resident is the memory the processes hold (their resident set sizes),
// about what their image holds before zero pages are left out.
func (s *Set) Resident() int64 {
	var n int64
	for _, f := range s.procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", f.pid))
		if err != nil {
			continue
		}
		var size, rss int64
		fmt.Sscan(string(b), &size, &rss)
		n += rss * int64(os.Getpagesize())
	}
	return n
}

// Write saves every process into dst as one image.
func (s *Set) Write(dst io.Writer) error {
	return s.owner.Do(func() error {
		shared, err := s.shared()
		if err != nil {
			return err
		}
		w, err := image.NewWriter(dst, image.ArchX86_64)
		if err != nil {
			return err
		}
		var files *mappedFiles // one for the image: each file saved once
		for _, f := range s.procs {
			if files == nil {
				files = newMappedFiles(f.opt.Save)
			}
			f.shared, f.files = shared[f.pid], files
			if err := f.write(w); err != nil {
				return err
			}
		}
		return w.Close()
	})
}

// Release sends sig (0: none) to every process while all are still
// frozen, then lets them go; with SIGKILL it waits until they are gone.
func (s *Set) Release(sig unix.Signal) error {
	var errs []error
	if sig != 0 {
		for _, f := range s.procs {
			if err := unix.Kill(f.pid, sig); err != nil {
				errs = append(errs, fmt.Errorf("pid %d: kill(%v): %w", f.pid, sig, err))
			}
		}
	}
	for _, f := range s.procs {
		if !f.zombie {
			errs = append(errs, f.owner.Do(func() error { return thaw(f.tasks) }))
		}
	}
	if sig == unix.SIGKILL {
		for _, f := range s.procs {
			waitGone(f.pid, 5*time.Second)
		}
	}
	return errors.Join(errs...)
}

// gone says whether pid no longer exists at all.
func gone(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return errors.Is(err, os.ErrNotExist)
}
