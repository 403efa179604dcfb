// Command cr_info prints what a stasis image holds.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/alecthomas/kong"

	stcli "stasis/internal/cli"

	"stasis/internal/compress"
	"stasis/internal/image"
)

type cli struct {
	Version kong.VersionFlag `help:"Print version information and exit."`
	Core    string           `placeholder:"DIR" help:"Write DIR/core.PID, an ELF core file that gdb reads, for every process of the image (made complete or not at all)."`
	Pid     int              `placeholder:"PID" help:"With --core, only for this process."`
	JSON    bool             `name:"json" help:"Print the whole description as one JSON object, in the versioned schema of docs/json.md, instead of text."`
	Image   string           `arg:"" help:"The image (or checkpoint directory) to describe."`
}

func main() {
	var c cli
	os.Args = append(os.Args[:1], stcli.Args(os.Args[1:], nil)...)
	kong.Parse(&c, kong.Name("cr_info"), kong.Vars{"version": "stasis 0.1"},
		kong.Description("Describe a checkpoint image and verify its checksums.\n\n"+
			"Exit status: 0 when the image is whole; 1 when it cannot be read or is damaged; 22 (EINVAL) for a "+
			"usage error."), stcli.Exit())
	var err error
	st, serr := os.Stat(c.Image)
	isDir := serr == nil && st.IsDir()
	switch {
	case c.Core != "":
		err = writeCores(c.Image, isDir, c.Core, c.Pid)
	case c.JSON:
		err = printJSON(c.Image, isDir)
	case isDir:
		err = describeDir(c.Image)
	default:
		err = describe(c.Image)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cr_info:", err)
		os.Exit(1)
	}
}

func describe(path string) error {
	return readImage(path, func(r io.Reader) error { return image.Describe(r, os.Stdout) })
}

// readImage opens the image at path, compressed or not, for read.
func readImage(path string, read func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := compress.Reader(f)
	if err != nil {
		return err
	}
	return read(r)
}

// describeDir describes each image of a checkpoint directory, in the
// order of its index.
func describeDir(dir string) error {
	x, err := image.ReadIndex(dir)
	if err != nil {
		return err
	}
	fmt.Printf("checkpoint directory %s: %d processes\n", dir, len(x.Processes))
	for _, p := range x.Processes {
		fmt.Printf("\n%s:\n", p.File)
		if err := describe(filepath.Join(dir, p.File)); err != nil {
			return fmt.Errorf("%s: %w", p.File, err)
		}
	}
	return nil
}
