// Command cr_info prints what a stasis image holds.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kong"

	"stasis/internal/compress"
	"stasis/internal/image"
)

type cli struct {
	Version kong.VersionFlag `help:"Print version information and exit."`
	Image   string           `arg:"" help:"The image to describe."`
}

func main() {
	var c cli
	kong.Parse(&c, kong.Name("cr_info"), kong.Vars{"version": "stasis 0.1"},
		kong.Description("Describe a checkpoint image and verify its checksums."))
	f, err := os.Open(c.Image)
	if err == nil {
		var r io.Reader
		if r, err = compress.Reader(f); err == nil {
			err = image.Describe(r, os.Stdout)
		}
		f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cr_info:", err)
		os.Exit(1)
	}
}
