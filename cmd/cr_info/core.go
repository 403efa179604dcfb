package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"stasis/internal/elfcore"
	"stasis/internal/image"
)

// writeCores writes the cores of the image at path (every image of a
// checkpoint directory if dir) into out, and lists them.
func writeCores(path string, dir bool, out string, pid int) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files := []string{path}
	if dir {
		x, err := image.ReadIndex(path)
		if err != nil {
			return err
		}
		files = files[:0]
		for _, p := range x.Processes {
			if pid == 0 || p.Pid == pid {
				files = append(files, filepath.Join(path, p.File))
			}
		}
		if len(files) == 0 {
			return fmt.Errorf("pid %d: not a process of %s", pid, path)
		}
	}
	for _, f := range files {
		err := readImage(f, func(r io.Reader) error {
			paths, notes, err := elfcore.Write(r, out, pid)
			for _, n := range notes {
				fmt.Fprintln(os.Stderr, "cr_info:", n)
			}
			for _, p := range paths {
				fmt.Println(p)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
