package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"stasis/internal/image"
)

// printJSON prints the image at path (a checkpoint directory if dir) as
// one JSON object, and only once all of it was read and verified: a
// damaged image prints nothing on standard output.
func printJSON(path string, dir bool) error {
	var out *image.JSONImage
	if !dir {
		err := readImage(path, func(r io.Reader) (err error) {
			out, err = image.DescribeJSON(r)
			return err
		})
		if err != nil {
			return err
		}
	} else {
		x, err := image.ReadIndex(path)
		if err != nil {
			return err
		}
		for _, p := range x.Processes {
			var one *image.JSONImage
			err := readImage(filepath.Join(path, p.File), func(r io.Reader) (err error) {
				one, err = image.DescribeJSON(r)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", p.File, err)
			}
			for i := range one.Processes {
				one.Processes[i].ImageFile = p.File
			}
			if out == nil {
				out = one
				out.Directory = path
				out.Part = false
				continue
			}
			out.Processes = append(out.Processes, one.Processes...)
			out.SavedFiles = append(out.SavedFiles, one.SavedFiles...)
			out.Totals.PageBytes += one.Totals.PageBytes
			out.Totals.SameBytes += one.Totals.SameBytes
			out.Totals.FileDataBytes += one.Totals.FileDataBytes
			out.Totals.SavedFileBytes += one.Totals.SavedFileBytes
		}
		if out == nil {
			return fmt.Errorf("checkpoint directory %s: no processes in its index", path)
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(b, '\n'))
	return err
}
