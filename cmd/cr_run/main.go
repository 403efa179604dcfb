// Command cr_run starts a program under the stasis agent, which supervises
// it and cooperates with checkpoints: see `cr_run --help` and the README.
package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

	"stasis/agent"
	stcli "stasis/internal/cli"
	"stasis/internal/kernel"
	"stasis/internal/trust"
)

const version = "stasis 0.1"

type cli struct {
	Version kong.VersionFlag `help:"Print version information and exit."`

	WatchUncheckpointable bool `xor:"filter" help:"Run the job under a seccomp filter that tells the agent when a process creates an object no image can hold (io_uring, perf events, bpf, userfaultfd, fanotify, secret memory, sockets other than unix ones), so that a checkpoint refused for it says when it was made. Costs the job about 10 ns per system call."`
	DenyUncheckpointable  bool `xor:"filter" help:"Run the job under a seccomp filter that makes those calls fail with ENOSYS, so that programs with a fallback stay checkpointable. Same cost."`

	KeepFd []int `name:"keep-fd" placeholder:"N" sep:"none" help:"Pass descriptor N, which cr_run was given, on to the program at the same number (repeatable). The program gets standard input, output and error, and no other descriptor cr_run inherited: a pipe or socket that a shell, CI runner or batch system leaked to it would make every checkpoint of the job fail."`

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
	"--checkpoint-file": true, "--checkpoint-dir": true, "--keep-fd": true}

func main() {
	if len(os.Args) > 0 && os.Args[0] == agent.ShimName {
		agent.Shim(os.Args[1:])
	}
	inherited := trust.Inherited()
	agent.CatchSignals()
	var c cli
	os.Args = append(os.Args[:1], stcli.Args(os.Args[1:], valued)...)
	kong.Parse(&c, kong.Name("cr_run"), kong.Vars{"version": version},
		kong.Description("Run a program under the stasis agent, so that it can be checkpointed. cr_run is the "+
			"job's agent: its parent, forwarding the signals it receives, and the one cr_checkpoint asks. Everything "+
			"from PROG on is PROG's.\n\n"+
			"Exit status: the job's (or cr_run is killed by the same signal); 75 when a checkpoint on "+
			"--checkpoint-exit-signal ended the job; 127 when PROG cannot be started; 22 (EINVAL) for a usage error."),
		stcli.Exit())
	if c.File != "" {
		c.CheckpointFile = c.File
	}
	if c.Dir != "" {
		c.CheckpointDir = c.Dir
	}
	for _, fd := range c.KeepFd {
		if fd < 3 || !slices.Contains(inherited, fd) {
			fmt.Fprintf(os.Stderr, "cr_run: --keep-fd %d: not a descriptor cr_run was given above 2 (standard input, output and error are always passed)\n", fd)
			os.Exit(stcli.UsageStatus)
		}
	}
	for _, fd := range inherited {
		if !slices.Contains(c.KeepFd, fd) {
			unix.CloseOnExec(fd)
		}
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
	pid, seccomp, listener, err := agent.Start(c.Prog, c.Args, filter, c.KeepFd)
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
