// Command cr_job runs a program as a batch job that comes back where it
// stopped when the scheduler preempts it or its time runs out: see
// `cr_job --help`, package batch and the README's "On a batch cluster".
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

	"stasis/batch"
	"stasis/internal/blcr"
	stcli "stasis/internal/cli"
	"stasis/internal/trust"
)

const version = "stasis 0.1"

type cli struct {
	Version kong.VersionFlag `help:"Print version information and exit."`

	Dir        string        `short:"d" placeholder:"DIR" help:"Keep the job's images in DIR (default: stasis.JOBID in $STASIS_CKPT_DIR if set, else in the directory the job was submitted from). A rerun restarts the newest image there that works."`
	Signal     string        `default:"USR1" placeholder:"SIG" help:"The signal the scheduler warns with before it ends the job (Slurm: --signal=B:USR1@SECONDS). On it, and on SIGTERM, cr_job checkpoints the job, ends it and has it requeued."`
	Interval   time.Duration `placeholder:"DURATION" help:"Also checkpoint the job every DURATION (90s, 1h), letting it run on: a node that fails loses at most that much."`
	KeepImages int           `default:"2" placeholder:"N" help:"Keep the newest N images (an older one is the fallback when the newest is damaged)."`
	Keep       bool          `help:"Keep the images when the job finishes with status 0 (by default they are removed)."`
	NoRequeue  bool          `help:"After the warning's checkpoint, end the job and exit 75 without asking the scheduler to run it again."`

	CheckpointArg []string `placeholder:"ARG" sep:"none" help:"Pass ARG to every cr_checkpoint (repeatable), e.g. --checkpoint-arg=--save-exe."`
	RestartArg    []string `placeholder:"ARG" sep:"none" help:"Pass ARG to every cr_restart (repeatable), e.g. --restart-arg=--relocate=/old=/new."`
	Quiet         bool     `short:"q" help:"Say nothing but errors (by default cr_job says on its standard error what it does)."`

	Prog string   `arg:"" help:"The program to run."`
	Args []string `arg:"" optional:"" passthrough:"" help:"Its arguments, passed untouched."`
}

var valued = map[string]bool{"-d": true, "--dir": true, "--signal": true, "--interval": true,
	"--keep-images": true, "--checkpoint-arg": true, "--restart-arg": true}

const description = `Run PROG as a batch job that survives preemption and its time limit.

In a job script, hand the batch shell over to cr_job:

    #SBATCH --signal=B:USR1@120 --requeue --open-mode=append
    exec cr_job ./solver input.dat

Or make cr_job the script's interpreter, #!/usr/bin/env cr_job: its lines then run in bash under cr_job, and a rerun goes on in the line it was in.

On the first run cr_job starts PROG under the stasis agent (as cr_run). When the scheduler warns (SIGUSR1 by default) or sends SIGTERM, cr_job checkpoints the job into its image directory, ends it, and asks the scheduler to run the job again (Slurm: scontrol requeue; PBS/Torque: qrerun; Grid Engine: exit status 99). On that rerun, on whatever node, cr_job restarts the newest image instead of starting over; if it is damaged, the one before. A job that finishes with status 0 has its images removed. A checkpoint that fails leaves the job running and the previous image in place. cr_job reads SLURM_JOB_ID, SLURM_RESTART_COUNT, SLURM_SUBMIT_DIR (Slurm), PBS_JOBID, PBS_O_WORKDIR (PBS/Torque), JOB_ID, RESTARTED, SGE_O_WORKDIR (Grid Engine). Outside a batch system give --dir.

Exit status: the job's when it ends by itself (128+N when killed by signal N); 0 after a checkpoint and a requeue (99 under Grid Engine, whose rerun that asks for); 75 after a checkpoint that ended the job without a requeue (--no-requeue, no scheduler, or a requeue that failed); 1 when no image could be restarted or the image directory cannot be used; 22 (EINVAL) for a usage error; 127 when the job cannot be started.`

func main() {
	for _, fd := range trust.Inherited() {
		unix.CloseOnExec(fd)
	}
	var c cli
	os.Args = append(os.Args[:1], stcli.Args(os.Args[1:], valued)...)
	kong.Parse(&c, kong.Name("cr_job"), kong.Vars{"version": version},
		kong.Description(description), stcli.Exit())
	warn, err := blcr.ParseSignal(c.Signal)
	if err == nil && (warn == 0 || warn == unix.SIGKILL || warn == unix.SIGSTOP || warn == unix.SIGCHLD) {
		err = fmt.Errorf("%v cannot be the warning signal", warn)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cr_job: --signal:", err)
		os.Exit(stcli.UsageStatus)
	}
	if c.KeepImages < 1 {
		fmt.Fprintln(os.Stderr, "cr_job: --keep-images: at least 1")
		os.Exit(stcli.UsageStatus)
	}
	if c.Interval < 0 {
		fmt.Fprintln(os.Stderr, "cr_job: --interval: negative")
		os.Exit(stcli.UsageStatus)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cr_job:", err)
		os.Exit(1)
	}
	os.Exit(batch.Run(batch.Config{
		Prog: c.Prog, Args: c.Args, Dir: c.Dir, Warn: warn, Interval: c.Interval,
		KeepImages: c.KeepImages, Keep: c.Keep, NoRequeue: c.NoRequeue,
		CheckpointArgs: c.CheckpointArg, RestartArgs: c.RestartArg, Quiet: c.Quiet,
		Bin: filepath.Dir(self),
	}))
}
