// Command cr_restart rebuilds the processes of an image and stays their
// parent, exiting as they exit (BLCR-compatible): see `cr_restart --help`.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"

	"stasis/agent"
	"stasis/internal/blcr"
	"stasis/internal/ptrace"
	"stasis/restart"
)

const version = "stasis 0.1"

type cli struct {
	Quiet   bool             `short:"q" help:"Suppress error and warning messages."`
	Version kong.VersionFlag `help:"Print version information and exit."`

	File string `short:"f" placeholder:"FILE" help:"Restart from FILE."`
	Fd   *int   `short:"F" placeholder:"FD" help:"Read the image from open file descriptor FD."`

	Run    bool `group:"After the restart (the last one given wins)" help:"Let the processes run (default)."`
	Signal int  `short:"S" group:"After the restart (the last one given wins)" placeholder:"NUM" help:"Send signal NUM."`
	Stop   bool `aliases:"freeze" group:"After the restart (the last one given wins)" help:"Send SIGSTOP."`
	Term   bool `group:"After the restart (the last one given wins)" help:"Send SIGTERM."`
	Abort  bool `group:"After the restart (the last one given wins)" help:"Send SIGABRT."`
	Kill   bool `group:"After the restart (the last one given wins)" help:"Send SIGKILL."`
	Cont   bool `group:"After the restart (the last one given wins)" help:"Send SIGCONT."`

	Image string `arg:"" optional:"" help:"The image to restart."`
}

func main() {
	var c cli
	kong.Parse(&c, kong.Name("cr_restart"), kong.Vars{"version": version},
		kong.Description("Restart processes from a checkpoint image (BLCR-compatible)."))
	pid, err := start(&c)
	if err != nil {
		if !c.Quiet {
			fmt.Fprintln(os.Stderr, "cr_restart:", err)
		}
		os.Exit(1)
	}
	agent.Exit(agent.Supervise(pid))
}

func start(c *cli) (int, error) {
	if c.Fd != nil {
		return 0, fmt.Errorf("-F/--fd: not supported yet")
	}
	path := c.Image
	if c.File != "" {
		if path != "" {
			return 0, fmt.Errorf("give the image either as -f FILE or as an argument, not both")
		}
		path = c.File
	}
	if path == "" {
		return 0, fmt.Errorf("no image given")
	}
	sig, err := blcr.LastSignal(os.Args[1:])
	if err != nil {
		return 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	pid, err := restart.Restore(ptrace.NewOwner(), f, restart.Options{Signal: sig})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return pid, nil
}
