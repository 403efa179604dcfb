// Package batch is cr_job: a batch job that survives preemption and its
// time limit. It reads which scheduler runs the job (Slurm, PBS/Torque,
// Grid Engine) from the environment, keeps the job's images in one
// directory, starts the program under cr_run on a first run and restarts
// the newest image that works on a rerun, checkpoints the job when the
// scheduler warns (and on a timer), ends it and has the scheduler requeue
// it. It drives the other commands (cr_run, cr_restart, cr_checkpoint,
// found beside cr_job) as child processes and never takes a privilege of
// its own: everything runs as the job's user. What it does not decide:
// how a process is saved or rebuilt (checkpoint, restart) or who may
// restart an image (internal/trust).
package batch
