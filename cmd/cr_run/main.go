// Command cr_run starts a program under the stasis agent, which supervises
// it and cooperates with checkpoints: see `cr_run --help` and the README.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"

	"stasis/agent"
	stcli "stasis/internal/cli"
	"stasis/internal/kernel"
)

const version = "stasis 0.1"

type cli struct {
	Version kong.VersionFlag `help:"Print version information and exit."`

	WatchUncheckpointable bool `xor:"filter" help:"Run the job under a seccomp filter that tells the agent when a process creates an object no image can hold (io_uring, perf events, bpf, userfaultfd, fanotify, secret memory, sockets other than unix ones), so that a checkpoint refused for it says when it was made. Costs the job about 10 ns per system call."`
	DenyUncheckpointable  bool `xor:"filter" help:"Run the job under a seccomp filter that makes those calls fail with ENOSYS, so that programs with a fallback stay checkpointable. Same cost."`

	agent.Flags
	File string `short:"f" placeholder:"FILE" group:"Checkpoints the agent takes" help:"Same as --checkpoint-file."`
	Dir  string `short:"d" placeholder:"DIR" group:"Checkpoints the agent takes" help:"Same as --checkpoint-dir."`

	Prog string   `arg:"" help:"The program to run."`
	Args []string `arg:"" optional:"" passthrough:"" help:"Its arguments, passed untouched."`
}

// valued are cr_run's options that take the next argument as their value:
// the first argument after the options that is not one is PROG, and
// everything from it on is PROG's.
var valued = map[string]bool{"-f": true, "-d": true, "--file": true, "--dir": true,
	"--checkpoint-signal": true, "--checkpoint-exit-signal": true, "--interval": true,
	"--checkpoint-file": true, "--checkpoint-dir": true}

func main() {
	if len(os.Args) > 0 && os.Args[0] == agent.ShimName {
		agent.Shim(os.Args[1:])
	}
	agent.CatchSignals()
	var c cli
	os.Args = append(os.Args[:1], stcli.Args(os.Args[1:], valued)...)
	kong.Parse(&c, kong.Name("cr_run"), kong.Vars{"version": version},
		kong.Description("Run a program under the stasis agent, so that it can be checkpointed."), stcli.Exit())
	if c.File != "" {
		c.CheckpointFile = c.File
	}
	if c.Dir != "" {
		c.CheckpointDir = c.Dir
	}
	cfg, err := c.Config("cr_run")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cr_run:", err)
		os.Exit(stcli.UsageStatus)
	}
	a, err := agent.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cr_run:", err)
		os.Exit(127)
	}
	filter := agent.FilterNone
	switch {
	case c.WatchUncheckpointable:
		filter = agent.FilterWatch
	case c.DenyUncheckpointable:
		filter = agent.FilterDeny
	}
	pid, seccomp, listener, err := agent.Start(c.Prog, c.Args, filter)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cr_run:", err)
		if pid > 0 {
			_, ws, _ := kernel.Wait4(pid, 0)
			agent.Exit(ws)
		}
		os.Exit(127)
	}
	job := agent.Job{Pids: []int{pid}, Filter: seccomp}
	if listener != nil {
		job.Listeners = append(job.Listeners, listener)
	}
	ws, checkpointed := a.Run(job)
	if checkpointed {
		os.Exit(agent.ExitCheckpointed)
	}
	agent.Exit(ws)
}
