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
	x, err := image.ReadIndex(dir)
	if err != nil {
		return nil, err
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
		ir, hd, err := image.NewReader(first)
		if err != nil {
			return fmt.Errorf("%s: %w", x.Processes[0].File, err)
		}
		if hd.Flags&image.FlagPart == 0 {
			return fmt.Errorf("checkpoint directory %s: %s is not marked as a part of one: damaged", dir, x.Processes[0].File)
		}
		ir.Chain(next)
		out, err = restoreFrom(ir, opt)
		return err
	})
	return out, err
}
