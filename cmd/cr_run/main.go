// Command cr_run starts a program as its child and supervises it: it
// forwards the signals it receives and exits as the program exits.
package main

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/alecthomas/kong"

	"stasis/agent"
)

const version = "stasis 0.1"

type cli struct {
	Version kong.VersionFlag `help:"Print version information and exit."`
	Prog    string           `arg:"" help:"The program to run."`
	Args    []string         `arg:"" optional:"" passthrough:"" help:"Its arguments, passed untouched."`
}

func main() {
	var c cli
	kong.Parse(&c, kong.Name("cr_run"), kong.Vars{"version": version},
		kong.Description("Run a program under the stasis agent."))
	cmd := exec.Command(c.Prog, c.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "cr_run:", err)
		os.Exit(127)
	}
	agent.Exit(agent.Supervise(cmd.Process.Pid))
}
