package checkpoint

import (
	"errors"
	"fmt"

	"stasis/internal/image"
)

// captureAll captures every process of the set while all are frozen,
// writing into w the mapped files the image saves (--save-*). With
// s.cow each also forks a snapshot, and if every one did, all are let go
// at once: the freeze ends here, and their pages are read from the
// snapshots as the image is written. If any fork failed, the snapshots
// made are ended, a note says why, and the processes stay frozen until
// the image is written, as without cow.
//
// Precondition: called on the owner thread.
func (s *Set) captureAll(w *image.Writer) ([]*captured, error) {
	caps := make([]*captured, 0, len(s.procs))
	for _, f := range s.procs {
		f.guard = s.guard
		c, err := f.capture(w, s.cow)
		if err != nil {
			closeAll(caps)
			return nil, err
		}
		caps = append(caps, c)
	}
	if !s.cow {
		return caps, nil
	}
	var why []error
	for _, f := range s.procs {
		if !f.zombie && f.snap == nil {
			why = append(why, f.snapErr)
		}
	}
	if len(why) > 0 {
		s.notef("no copy-on-write snapshot, so the processes stay frozen while their memory is written: %v", errors.Join(why...))
		for _, f := range s.procs {
			if err := f.endSnapshot(); err != nil {
				closeAll(caps)
				return nil, err
			}
		}
		return caps, nil
	}
	for _, f := range s.procs {
		if f.zombie {
			continue
		}
		if err := thaw(f.tasks); err != nil {
			closeAll(caps)
			return nil, err
		}
		f.thawed = true
	}
	return caps, nil
}

// endSnapshot ends f's snapshot, if it has one.
//
// Precondition: called on the owner thread.
func (f *Frozen) endSnapshot() error {
	if f.snap == nil {
		return nil
	}
	var leader *task
	if !f.thawed {
		for _, t := range f.tasks {
			if t.tid == f.pid {
				leader = t
			}
		}
	}
	err := f.snap.end(leader)
	f.guard.remove(f.snap.pid)
	f.snap = nil
	return err
}

func closeAll(caps []*captured) {
	for _, c := range caps {
		if c != nil {
			c.close()
		}
	}
}

func (s *Set) notef(format string, args ...any) {
	if s.note != nil {
		s.note(fmt.Sprintf(format, args...))
	}
}
