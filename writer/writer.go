// Package writer puts an image where the user asked, under BLCR's policies.
// An image is written to a temporary file beside its destination, synced,
// made readable only by its owner, and renamed into place, so that the
// destination holds either the previous image or the complete new one and
// never anything in between.
package writer

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is an image being written.
type File struct {
	*os.File
	path string
	sync bool
	done bool
}

// Create starts an image that will appear at path on Commit.
func Create(path string, sync bool) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return &File{File: f, path: path, sync: sync}, nil
}

// Commit makes the image visible at its path, replacing any older one.
func (f *File) Commit() error {
	tmp := f.Name()
	err := f.Chmod(0400)
	if err == nil && f.sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("image %s: %w", f.path, err)
	}
	f.done = true
	if f.sync {
		return syncDir(filepath.Dir(f.path))
	}
	return nil
}

// Abort removes the unfinished image; the destination is untouched.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.Close()
	os.Remove(f.Name())
	f.done = true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
