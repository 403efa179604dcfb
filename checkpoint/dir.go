package checkpoint

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"

	"stasis/internal/compress"
	"stasis/internal/image"
	"stasis/internal/ptrace"
	"stasis/writer"
)

// SaveDir checkpoints the processes that resolve names into the checkpoint
// directory dest.Path (cr_checkpoint -d): one image per process, each
// compressed on its own, and the index (see image.Index). The directory
// appears complete or not at all, under dest.Policy; dest.Stream must be
// nil. Then it releases the processes with sig. On any failure the
// processes run on untouched and nothing is left behind.
func SaveDir(owner *ptrace.Owner, resolve func() ([]int, error), dest Dest, sig unix.Signal, opt Options) error {
	if dest.Stream != nil {
		return errors.New("a checkpoint directory cannot go to a stream")
	}
	if late(dest.Deadline) {
		return ErrTimeout
	}
	set, err := FreezeAll(owner, resolve, opt)
	if err != nil {
		return err
	}
	dir, err := writer.CreateDir(dest.Path, image.IndexName, dest.Policy)
	if err != nil {
		return errors.Join(err, set.Release(0))
	}
	if dest.Progress != nil {
		dest.Progress.Start(set.Resident(), set.Pids())
		defer dest.Progress.Done()
	}
	open := func(name string) (io.Writer, error) {
		f, err := dir.Create(name)
		if err != nil {
			return nil, err
		}
		var out io.Writer = f
		if dest.Progress != nil {
			out = progressWriter{out, dest.Progress}
		}
		if !dest.Deadline.IsZero() {
			out = &deadlineWriter{w: out, at: dest.Deadline}
		}
		return out, nil
	}
	err = set.writeEach(func(pid int, write func(io.Writer) error) error {
		out, err := open(image.PartName(pid))
		if err != nil {
			return err
		}
		z, err := compress.Writer(dest.Compress, out)
		if err != nil {
			return err
		}
		err = write(z)
		return errors.Join(err, z.Close())
	})
	if err == nil {
		var out io.Writer
		if out, err = open(image.IndexName); err == nil {
			_, err = out.Write(image.NewIndex(set.Pids()))
		}
	}
	if err == nil && late(dest.Deadline) {
		err = ErrTimeout
	}
	if err == nil {
		err = dir.Commit()
	} else {
		dir.Abort()
	}
	if err != nil {
		return errors.Join(err, set.Release(0))
	}
	return set.Release(sig)
}

// writeEach saves each process as an image of its own, which save writes
// where it likes; pages an earlier process saved are found as by Write.
func (s *Set) writeEach(save func(pid int, write func(io.Writer) error) error) error {
	return s.owner.Do(func() error {
		shared, err := s.shared()
		if err != nil {
			return err
		}
		s.tie(shared)
		for _, f := range s.procs {
			err := save(f.pid, func(dst io.Writer) error {
				w, err := image.NewPartWriter(dst, image.ArchX86_64)
				if err != nil {
					return err
				}
				if err := f.write(w); err != nil {
					return err
				}
				return w.Close()
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}
