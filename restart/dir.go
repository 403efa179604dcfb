package restart

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"stasis/internal/compress"
	"stasis/internal/image"
	"stasis/internal/ptrace"
)

// errPart: a lone image of a checkpoint directory holds one process, whose
// pipes, shared memory and shared pages may live in the images before it.
var errPart = errors.New("this image is one process of a checkpoint directory (cr_checkpoint -d): restart the directory")

// RestoreDir rebuilds the processes of the checkpoint directory dir
// (cr_checkpoint -d): its images are read in the order of its index, one
// after the other, as one image of the whole tree would be.
func RestoreDir(owner *ptrace.Owner, dir string, opt Options) (*Restored, error) {
	defer quietStops()()
	x, err := image.ReadIndex(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range x.Processes {
		if err := checkPart(dir, p); err != nil {
			return nil, err
		}
	}
	var cur *os.File
	defer func() {
		if cur != nil {
			cur.Close()
		}
	}()
	i := 0
	next := func() (io.Reader, error) {
		if cur != nil {
			cur.Close()
			cur = nil
		}
		if i == len(x.Processes) {
			return nil, nil
		}
		name := filepath.Join(dir, x.Processes[i].File)
		i++
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("checkpoint directory %s: %w", dir, err)
		}
		cur = f
		r, err := compress.Reader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return r, nil
	}
	var out *Restored
	err = owner.Do(func() error {
		first, err := next()
		if err != nil {
			return err
		}
		ir, _, err := image.NewReader(first)
		if err != nil {
			return fmt.Errorf("%s: %w", x.Processes[0].File, err)
		}
		ir.Chain(next)
		out, err = restoreFrom(ir, nil, opt)
		return err
	})
	return out, err
}

// checkPart checks, before anything is built, that the image the index
// names for a process is there, is a part of a directory and starts with
// that process (or with saved files, which are not read here).
func checkPart(dir string, p image.IndexProc) error {
	name := filepath.Join(dir, p.File)
	fail := func(err error) error { return fmt.Errorf("checkpoint directory %s: %s: %w", dir, p.File, err) }
	f, err := os.Open(name)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	r, err := compress.Reader(f)
	if err != nil {
		return fail(err)
	}
	ir, hd, err := image.NewReader(r)
	if err != nil {
		return fail(err)
	}
	rec, err := ir.Next()
	if err != nil {
		return fail(err)
	}
	if rec.Type == image.RecSavedFile && hd.Flags&image.FlagPart != 0 {
		return nil // saved files come first: not read through here, for the pid
	}
	var got *image.Process
	if rec.Type == image.RecProcess {
		if got, err = ir.Process(); err != nil {
			return fail(err)
		}
	}
	if hd.Flags&image.FlagPart == 0 || got == nil || got.Pid != p.Pid {
		return fail(fmt.Errorf("not the image of pid %d in a checkpoint directory: damaged", p.Pid))
	}
	return nil
}
