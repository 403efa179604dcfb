package batch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Scheduler is what the batch system running the job tells it through its
// environment, and how the job asks to be run again.
type Scheduler struct {
	Name string // "slurm", "pbs", "sge", or "" outside a batch system
	// JobID names the job; it stays the same when the job is requeued.
	JobID string
	// Runs is how many times the job ran before this run (Slurm's
	// SLURM_RESTART_COUNT, Grid Engine's RESTARTED); -1 where the
	// scheduler does not say.
	Runs int
	// SubmitDir is the directory the job was submitted from.
	SubmitDir string
	// requeue asks for the job to be run again; exit is the status cr_job
	// exits with afterwards (Grid Engine requeues a job that exits 99).
	requeue []string
	exit    int
}

// Variables lists, for the documentation and for errors, what each
// scheduler's entry reads.
var Variables = map[string][]string{
	"slurm": {"SLURM_JOB_ID", "SLURM_RESTART_COUNT", "SLURM_SUBMIT_DIR"},
	"pbs":   {"PBS_JOBID", "PBS_O_WORKDIR"},
	"sge":   {"JOB_ID", "RESTARTED", "SGE_O_WORKDIR"},
}

// Detect reads the scheduler from env (os.Environ's form).
func Detect(env []string) Scheduler {
	get := func(k string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				return v
			}
		}
		return ""
	}
	count := func(k string) int {
		n, err := strconv.Atoi(get(k))
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	switch {
	case get("SLURM_JOB_ID") != "":
		id := get("SLURM_JOB_ID")
		return Scheduler{Name: "slurm", JobID: id, Runs: count("SLURM_RESTART_COUNT"),
			SubmitDir: get("SLURM_SUBMIT_DIR"), requeue: []string{"scontrol", "requeue", id}}
	case get("PBS_JOBID") != "":
		id := get("PBS_JOBID")
		return Scheduler{Name: "pbs", JobID: id, Runs: -1, SubmitDir: get("PBS_O_WORKDIR"),
			requeue: []string{"qrerun", id}}
	case get("JOB_ID") != "" && get("SGE_O_WORKDIR") != "":
		return Scheduler{Name: "sge", JobID: get("JOB_ID"), Runs: count("RESTARTED"),
			SubmitDir: get("SGE_O_WORKDIR"), exit: 99}
	}
	return Scheduler{Runs: -1}
}

// String names the job for messages: "slurm job 42".
func (s Scheduler) String() string {
	if s.Name == "" {
		return "job"
	}
	return s.Name + " job " + s.JobID
}

// ImageDir is where the job's images go by default: a directory named for
// the job under base ($STASIS_CKPT_DIR) if given, else in the submit
// directory.
func (s Scheduler) ImageDir(base string) (string, error) {
	if s.Name == "" {
		return "", fmt.Errorf("not inside a batch job (none of %s is set): say where the images go with --dir",
			strings.Join([]string{"SLURM_JOB_ID", "PBS_JOBID", "JOB_ID"}, ", "))
	}
	name := "stasis." + strings.ReplaceAll(s.JobID, "/", "_")
	if base != "" {
		return filepath.Join(base, name), nil
	}
	if s.SubmitDir == "" {
		return "", fmt.Errorf("%s: no submit directory (%s) and no $STASIS_CKPT_DIR: say where the images go with --dir", s, Variables[s.Name][len(Variables[s.Name])-1])
	}
	return filepath.Join(s.SubmitDir, name), nil
}

// CanRequeue says whether the job can ask to be run again.
func (s Scheduler) CanRequeue() bool { return s.requeue != nil || s.exit != 0 }

// Requeue asks the scheduler to run the job again and returns the status
// cr_job should then exit with.
func (s Scheduler) Requeue() (int, error) {
	if s.requeue == nil {
		return s.exit, nil
	}
	cmd := exec.Command(s.requeue[0], s.requeue[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return 1, fmt.Errorf("%s: %w", strings.Join(s.requeue, " "), err)
	}
	return 0, nil
}
