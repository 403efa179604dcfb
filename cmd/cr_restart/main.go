// Command cr_restart rebuilds the processes of an image and stays their
// parent, exiting as they exit (BLCR-compatible): see `cr_restart --help`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

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

	RestorePgid bool `help:"Put the processes back into their own process groups (default: cr_restart's)."`
	RestoreSid  bool `help:"Put the processes back into their own sessions (default: cr_restart's)."`
	NoLazy      bool `help:"Copy all page data at restart instead of mapping it from the image file (for images on network file systems)."`

	agent.Flags

	Image string `arg:"" optional:"" help:"The image to restart."`
}

func main() {
	agent.CatchSignals()
	var c cli
	kong.Parse(&c, kong.Name("cr_restart"), kong.Vars{"version": version},
		kong.Description("Restart processes from a checkpoint image (BLCR-compatible); cr_restart becomes their agent."))
	a, r, err := start(&c)
	if err != nil {
		if !c.Quiet {
			fmt.Fprintln(os.Stderr, "cr_restart:", err)
		}
		os.Exit(1)
	}
	job := agent.Job{Pids: r.Pids, Filter: r.Seccomp, Listeners: r.Listeners}
	for _, c := range r.AgentConns {
		job.Conns = append(job.Conns, agent.Conn{Pid: c.Pid, Fd: c.Fd, File: c.File})
	}
	ws, checkpointed := a.Run(job)
	if checkpointed {
		os.Exit(agent.ExitCheckpointed)
	}
	agent.Exit(ws)
}

func start(c *cli) (*agent.Agent, *restart.Restored, error) {
	path := c.Image
	if c.File != "" {
		if path != "" {
			return nil, nil, fmt.Errorf("give the image either as -f FILE or as an argument, not both")
		}
		path = c.File
	}
	if (path == "") == (c.Fd == nil) {
		return nil, nil, fmt.Errorf("give the image as IMAGE, -f FILE or -F FD (one of them)")
	}
	sig, err := blcr.LastSignal(os.Args[1:])
	if err != nil {
		return nil, nil, err
	}
	cfg, err := c.Config("cr_restart")
	if err != nil {
		return nil, nil, err
	}
	var f *os.File
	if c.Fd != nil {
		// A stream (a pipe, say): read once, front to back.
		if _, err := unix.FcntlInt(uintptr(*c.Fd), unix.F_GETFL, 0); err != nil {
			return nil, nil, fmt.Errorf("-F %d: not an open file descriptor: %w", *c.Fd, err)
		}
		path = fmt.Sprintf("fd %d", *c.Fd)
		f = os.NewFile(uintptr(*c.Fd), path)
	} else {
		if cfg.Image, err = filepath.Abs(path); err != nil {
			return nil, nil, err
		}
		if cfg.File == "" && cfg.Dir == "" {
			cfg.File = cfg.Image // the agent's own checkpoints replace the image, atomically
		}
		if f, err = os.Open(path); err != nil {
			return nil, nil, err
		}
	}
	defer f.Close()
	a, err := agent.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	r, err := restart.Restore(ptrace.NewOwner(), f, restart.Options{Signal: sig, RestorePgid: c.RestorePgid, RestoreSid: c.RestoreSid,
		FromFile: c.Fd == nil, NoLazy: c.NoLazy})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, r, nil
}
