package agent

import (
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/blcr"
)

// Flags are the command-line options cr_run and cr_restart share, for
// embedding in their kong structs.
type Flags struct {
	CheckpointSignal     string        `placeholder:"SIG" group:"Checkpoints the agent takes" help:"On signal SIG (name or number), checkpoint the job and let it run on."`
	CheckpointExitSignal string        `placeholder:"SIG" group:"Checkpoints the agent takes" help:"On signal SIG, checkpoint the job, end it, and exit with status 75."`
	Interval             time.Duration `placeholder:"DURATION" group:"Checkpoints the agent takes" help:"Checkpoint the job every DURATION (like 90s or 1h); a failed checkpoint keeps the last good image."`
	CheckpointFile       string        `placeholder:"FILE" group:"Checkpoints the agent takes" help:"Write those checkpoints to FILE."`
	CheckpointDir        string        `placeholder:"DIR" group:"Checkpoints the agent takes" help:"Write those checkpoints as checkpoint directory DIR (as cr_checkpoint -d DIR: DIR/context.PID per process)."`
}

// Config turns the flags into a Config named name.
func (f *Flags) Config(name string) (Config, error) {
	cfg := Config{Name: name, Interval: f.Interval}
	var err error
	if cfg.CheckpointSignal, err = blcr.ParseSignal(f.CheckpointSignal); err != nil {
		return cfg, fmt.Errorf("--checkpoint-signal: %w", err)
	}
	if cfg.ExitSignal, err = blcr.ParseSignal(f.CheckpointExitSignal); err != nil {
		return cfg, fmt.Errorf("--checkpoint-exit-signal: %w", err)
	}
	for _, s := range []struct {
		flag string
		sig  unix.Signal
	}{{"--checkpoint-signal", cfg.CheckpointSignal}, {"--checkpoint-exit-signal", cfg.ExitSignal}} {
		if s.sig == unix.SIGKILL || s.sig == unix.SIGSTOP {
			return cfg, fmt.Errorf("%s %v: no process can catch %v, so the agent could never act on it", s.flag, unix.SignalName(s.sig), unix.SignalName(s.sig))
		}
	}
	if cfg.CheckpointSignal != 0 && cfg.CheckpointSignal == cfg.ExitSignal {
		return cfg, fmt.Errorf("--checkpoint-signal and --checkpoint-exit-signal are both %v", cfg.ExitSignal)
	}
	if f.Interval < 0 {
		return cfg, fmt.Errorf("--interval %v: negative", f.Interval)
	}
	if f.CheckpointFile != "" && f.CheckpointDir != "" {
		return cfg, fmt.Errorf("give a checkpoint file or a directory, not both")
	}
	if cfg.File, err = abs(f.CheckpointFile); err != nil {
		return cfg, err
	}
	cfg.Dir, err = abs(f.CheckpointDir)
	return cfg, err
}

// abs makes a destination absolute: the agent may use it long after, and
// requests name files as absolute paths.
func abs(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	return filepath.Abs(p)
}
