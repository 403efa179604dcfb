package batch

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config is what cr_job's command line says.
type Config struct {
	Prog string
	Args []string
	// Dir holds the images; "" means the scheduler's default (ImageDir).
	Dir string
	// Warn is the signal the scheduler warns with before it ends the job.
	Warn syscall.Signal
	// Interval, if not 0, also checkpoints the job that often.
	Interval time.Duration
	// KeepImages is how many images are kept (at least 1).
	KeepImages int
	// Keep keeps the images of a job that ended with status 0.
	Keep bool
	// NoRequeue ends the job after the warning's checkpoint without asking
	// the scheduler to run it again (cr_job then exits 75).
	NoRequeue bool
	// CheckpointArgs and RestartArgs are passed to every cr_checkpoint and
	// cr_restart.
	CheckpointArgs, RestartArgs []string
	Quiet                       bool
	// Bin is the directory of cr_run, cr_checkpoint and cr_restart.
	Bin string
}

// ExitNotRequeued is cr_job's status after a checkpoint that ended the job
// when nothing will run it again: EX_TEMPFAIL, as cr_run's exit checkpoint.
const ExitNotRequeued = 75

// job is one run of cr_job.
type job struct {
	cfg    Config
	sched  Scheduler
	images *Images
	agent  *exec.Cmd
	exited chan *os.ProcessState
}

func (j *job) say(format string, a ...any) {
	if !j.cfg.Quiet {
		fmt.Fprintf(os.Stderr, "cr_job: "+format+"\n", a...)
	}
}

func (j *job) fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "cr_job: "+format+"\n", a...)
}

// Run runs the job once: it starts or restarts it, supervises it, and
// returns the status cr_job exits with.
func Run(cfg Config) int {
	j := &job{cfg: cfg, sched: Detect(os.Environ()), exited: make(chan *os.ProcessState, 1)}
	if cfg.KeepImages < 1 {
		j.cfg.KeepImages = 1
	}
	dir := cfg.Dir
	if dir == "" {
		var err error
		if dir, err = j.sched.ImageDir(os.Getenv("STASIS_CKPT_DIR")); err != nil {
			j.fail("%v", err)
			return 22
		}
	}
	var err error
	if j.images, err = OpenImages(dir); err != nil {
		j.fail("images: %v", err)
		return 1
	}
	// Every signal is caught before the job starts, so that none is lost
	// while it starts; the warning and SIGTERM are cr_job's, the others are
	// passed on to the job.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, j.cfg.Warn, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM, syscall.SIGCONT, syscall.SIGWINCH)

	host, _ := os.Hostname()
	runs := ""
	if j.sched.Runs >= 0 {
		runs = fmt.Sprintf(", run %d", j.sched.Runs+1)
	}
	good, _, err := j.images.list()
	if err != nil {
		j.fail("images: %v", err)
		return 1
	}
	if len(good) > 0 {
		j.say("%s%s on %s: restarting from %s", j.sched, runs, host, good[0].path)
		if st, ok := j.restart(good); !ok {
			return st
		}
	} else {
		args, what := append([]string{cfg.Prog}, cfg.Args...), cfg.Prog
		if text, ok, err := Script(cfg.Prog); err != nil {
			j.fail("%v", err)
			return 127
		} else if ok {
			if args, err = scriptCommand(text, cfg.Prog, cfg.Args); err != nil {
				j.fail("%v", err)
				return 127
			}
			what = "the lines of " + cfg.Prog + " in bash"
		}
		if j.sched.Runs > 0 {
			j.say("%s%s on %s: no image in %s: starting %s from the beginning", j.sched, runs, host, dir, what)
		} else {
			j.say("%s%s on %s: starting %s; images go to %s", j.sched, runs, host, what, dir)
		}
		if err := j.start(exec.Command(j.bin("cr_run"), args...)); err != nil {
			j.fail("%v", err)
			return 127
		}
	}
	return j.supervise(sigs)
}

// bin is the path of a stasis command: beside cr_job, else on $PATH.
func (j *job) bin(name string) string {
	p := filepath.Join(j.cfg.Bin, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return name
}

// start starts the job's agent (cr_run or cr_restart) with cr_job's
// standard streams.
func (j *job) start(cmd *exec.Cmd) error {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	j.agent = cmd
	go func() {
		cmd.Wait()
		j.exited <- cmd.ProcessState
	}()
	return nil
}

// markerFailed is the status the restart hook exits with when it cannot
// write its marker: the job was restored and runs, so no older image may
// be tried.
const markerFailed = 117

// restart restarts the newest image that works, trying the older ones
// when a restart fails before the job runs (a damaged image). ok is false
// when none worked; cr_job then exits with st.
//
// cr_restart's --run-on-success hook writes a marker once the job runs;
// a restart that fails exits without it. The marker lives in a private
// directory of cr_job's, not among the images, whose directory may not
// be writable (a failing checkpoint must not be mistaken for a failing
// restart).
func (j *job) restart(good []image) (st int, ok bool) {
	mark, err := os.MkdirTemp("", "cr_job.")
	if err != nil {
		j.fail("restart: a directory for its marker: %v", err)
		return 1, false
	}
	defer os.RemoveAll(mark)
	started := filepath.Join(mark, "started")
	ran := func() bool {
		_, err := os.Stat(started)
		return err == nil
	}
	hook := fmt.Sprintf(`: > "$STASIS_CR_JOB_STARTED" || exit %d`, markerFailed)
	for i, im := range good {
		args := append([]string{"--run-on-success", hook}, j.cfg.RestartArgs...)
		cmd := exec.Command(j.bin("cr_restart"), append(args, im.path)...)
		cmd.Env = append(os.Environ(), "STASIS_CR_JOB_STARTED="+started)
		if err := j.start(cmd); err != nil {
			j.fail("%v", err)
			return 127, false
		}
		var ps *os.ProcessState
		for ps == nil && !ran() {
			select {
			case ps = <-j.exited:
			case <-time.After(20 * time.Millisecond):
			}
		}
		switch {
		case ran():
			for _, bad := range good[:i] {
				if err := j.images.markBad(bad); err == nil {
					j.say("%s could not be restarted while an older image could: renamed %s.bad", bad.path, filepath.Base(bad.path))
				}
			}
			if ps != nil {
				j.exited <- ps // it ran, and ended already
			}
			return 0, true
		case ps.ExitCode() == markerFailed:
			j.fail("%s was restored, but cr_job could not tell (its marker %s could not be written): cr_job cannot supervise it, and no older image is tried", im.path, started)
			return 1, false
		case i+1 < len(good):
			j.fail("restart from %s failed (cr_restart: %s): falling back to the previous image, %s", im.path, ps, good[i+1].path)
		default:
			j.fail("restart from %s failed (cr_restart: %s), and there is no older image: the job was not started again from the beginning (remove %s to do that)", im.path, ps, j.images.Dir)
		}
	}
	return 1, false
}

// supervise waits for the job to end, checkpointing it on the warning
// signal, on SIGTERM and on the timer.
func (j *job) supervise(sigs chan os.Signal) int {
	var tick <-chan time.Time
	if j.cfg.Interval > 0 {
		t := time.NewTicker(j.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	terminating := false
	for {
		select {
		case s := <-sigs:
			if s != j.cfg.Warn && s != syscall.SIGTERM {
				j.agent.Process.Signal(s)
				continue
			}
			if s == syscall.SIGTERM {
				terminating = true
				if why := j.termReached(); why != "" {
					j.fail("SIGTERM reached the job too (%s): it is not checkpointed on its way out%s", why, j.kept())
					continue
				}
			}
			path, err := j.checkpoint(true)
			if err != nil {
				j.fail("%v; the job runs on%s", err, j.kept())
				continue
			}
			<-j.exited
			if err := j.images.prune(j.cfg.KeepImages); err != nil {
				j.fail("removing older images: %v", err)
			}
			return j.requeue(fmt.Sprintf("on %s, checkpointed into %s and ended", unix.SignalName(s.(syscall.Signal)), path))
		case <-tick:
			if path, err := j.checkpoint(false); err != nil {
				j.fail("%v; the job runs on%s", err, j.kept())
			} else {
				j.say("checkpointed into %s", path)
				if err := j.images.prune(j.cfg.KeepImages); err != nil {
					j.fail("removing older images: %v", err)
				}
			}
		case ps := <-j.exited:
			return j.ended(ps, terminating)
		}
	}
}

// kept says which image a failed checkpoint left for the next run.
func (j *job) kept() string {
	good, _, err := j.images.list()
	switch {
	case err != nil:
		return fmt.Sprintf("; its images cannot be listed now (%v), and none was removed", err)
	case len(good) == 0:
		return " (there is no image of it yet)"
	}
	return "; " + good[0].path + " is kept for the next run"
}

// checkpoint saves the job into the next image, ending it if kill.
func (j *job) checkpoint(kill bool) (string, error) {
	path, err := j.images.next()
	if err != nil {
		return "", fmt.Errorf("checkpoint failed: listing its images: %w", err)
	}
	args := []string{"-f", path}
	if kill {
		args = append(args, "--kill")
	}
	args = append(append(args, j.cfg.CheckpointArgs...), fmt.Sprint(j.agent.Process.Pid))
	cmd := exec.Command(j.bin("cr_checkpoint"), args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stderr, &stderr
	if err := cmd.Run(); err != nil {
		why := strings.TrimSpace(stderr.String())
		if why == "" {
			why = err.Error()
		}
		return "", fmt.Errorf("checkpoint into %s failed: %s", path, why)
	}
	return path, nil
}

// requeue asks the scheduler to run the checkpointed job again.
func (j *job) requeue(what string) int {
	if j.cfg.NoRequeue || !j.sched.CanRequeue() {
		why := "--no-requeue"
		if !j.cfg.NoRequeue {
			why = "no scheduler to requeue it"
		}
		j.say("%s; not requeued (%s): run cr_job again with the same --dir to go on", what, why)
		return ExitNotRequeued
	}
	st, err := j.sched.Requeue()
	if err != nil {
		j.fail("%s, but it could not be requeued: %v; submit it again with the same --dir to go on", what, err)
		return ExitNotRequeued
	}
	j.say("%s; requeued", what)
	return st
}

// ended handles a job that ended without a checkpoint of cr_job's.
func (j *job) ended(ps *os.ProcessState, terminating bool) int {
	st := ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		st = 128 + int(ws.Signal())
	}
	good, _, _ := j.images.list()
	if terminating && len(good) > 0 && !j.cfg.NoRequeue && j.sched.CanRequeue() {
		return j.requeue(fmt.Sprintf("the job ended (%s) while being terminated; %s is kept", ps, good[0].path))
	}
	if st == 0 {
		if !j.cfg.Keep {
			if err := j.images.Remove(); err != nil {
				j.fail("the job finished, but its images could not be removed: %v", err)
			}
		}
		return 0
	}
	if len(good) > 0 {
		j.fail("the job ended (%s); its images in %s are kept", ps, j.images.Dir)
	}
	return st
}
