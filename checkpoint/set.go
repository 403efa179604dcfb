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
	"stasis/internal/netlock"
	"stasis/internal/proc"
	"stasis/internal/ptrace"
	"stasis/internal/trace"
)

// Set is the frozen processes of one checkpoint, parents before children.
type Set struct {
	owner *ptrace.Owner
	procs []*Frozen
	cow   bool            // Write lets the processes go once each has a snapshot
	note  func(string)    // told what a user may want to know (-v)
	guard *guard          // reaps the snapshots if we die
	tcp   []*os.File      // the TCP connections saved (tcp.go), until Release
	locks []*netlock.Lock // their peers' packets dropped, until Release (tcp.go)
	reset []*os.File      // connections to reset if killed (--tcp-close)
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
			if err != nil && (gone(pid) || exited(pid)) {
				// It exited meanwhile (reaped, or a zombie now, which
				// the next round saves as one): ask again.
				grew = true
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
		used, err := sysvIPC(pids)
		if err != nil {
			return nil, errors.Join(err, set.Release(0))
		}
		for pid, u := range used {
			frozen[pid].sysv = u
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
		if rss, err := proc.ResidentBytes(f.pid); err == nil {
			n += rss
		}
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
		s.tie(shared)
		trace.Mark("checkpoint: shared fds found")
		defer func() {
			for _, f := range s.procs {
				f.dedup.close()
			}
		}()
		if !s.cow {
			if err := s.writeOverlapped(w); err != nil {
				return err
			}
			return w.Close()
		}
		caps, err := s.captureAll(w)
		if err != nil {
			return err
		}
		trace.Mark("checkpoint: %d processes captured", len(caps))
		for i, f := range s.procs {
			if err := caps[i].emit(w, f.snap, f.dedup); err != nil {
				closeAll(caps[i+1:])
				return err
			}
			trace.Mark("pid %d: written", f.pid)
		}
		// The snapshots live until every process is written: dedup checks
		// that a page a later process shares is still the frame an earlier
		// one saved, in that one's snapshot.
		for _, f := range s.procs {
			if f.snap != nil {
				if err := f.endSnapshot(); err != nil {
					s.notef("%v", err) // the image is whole all the same
				}
			}
		}
		return w.Close()
	})
}

// tie gives each process what it shares with the others of the image:
// its fds tied to theirs, the image's mapped files (each saved once) and
// the pages they saved (see dedup).
func (s *Set) tie(shared map[int]map[int]image.Fd) {
	var files *mappedFiles
	d := s.newDedup()
	for _, f := range s.procs {
		if files == nil {
			files = newMappedFiles(f.opt.Save)
		}
		f.shared, f.files, f.dedup = shared[f.pid], files, d
	}
}

// Release sends sig (0: none) to every process while all are still
// frozen, then lets them go; with SIGKILL it waits until they are gone.
func (s *Set) Release(sig unix.Signal) error {
	var errs []error
	defer func() {
		for _, f := range append(s.tcp, s.reset...) {
			f.Close()
		}
		s.tcp, s.reset = nil, nil
	}()
	var gone *ends
	if sig == unix.SIGKILL {
		gone = watchEnds(s.Pids())
		killQuietly(s.tcp)
		killResetting(s.reset)
	}
	if sig != 0 {
		for _, f := range s.procs {
			if err := unix.Kill(f.pid, sig); err != nil {
				errs = append(errs, fmt.Errorf("pid %d: kill(%v): %w", f.pid, sig, err))
			}
		}
	}
	for _, f := range s.procs {
		if f.zombie {
			continue
		}
		errs = append(errs, f.owner.Do(func() error {
			err := f.endSnapshot()
			if f.thawed {
				return err
			}
			if sig == unix.SIGKILL {
				return errors.Join(err, thawKilled(f.tasks, f.pid, 5*time.Second))
			}
			return errors.Join(err, thaw(f.tasks))
		}))
	}
	s.guard.stop()
	s.guard = nil
	trace.Mark("checkpoint: let go of %d processes", len(s.procs))
	if sig == unix.SIGKILL {
		gone.wait(5 * time.Second)
		trace.Mark("checkpoint: all gone")
	}
	errs = append(errs, s.unlock(sig == unix.SIGKILL))
	return errors.Join(errs...)
}

// exited says whether pid is a zombie.
func exited(pid int) bool {
	st, err := proc.ReadStat(pid)
	return err == nil && (st.State == 'Z' || st.State == 'X')
}

// gone says whether pid no longer exists at all.
func gone(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return errors.Is(err, os.ErrNotExist)
}
