// Package agent is the supervisor that cr_run and cr_restart become. It is
// the parent and child subreaper of the job, forwards the signals it gets,
// ends as the job ended, serves the control socket (checkpoint requests
// from cr_checkpoint, libcr inside the job), listens to the seccomp filter
// that marks what the job holds that no image can, and takes checkpoints on
// a signal, on a timer or before exit. The checkpoint itself is package
// checkpoint's; the protocol is package control's.
package agent

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/control"
	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/ptrace"
	"stasis/namespace"
)

// ExitCheckpointed is the status the agent exits with after a checkpoint
// on --checkpoint-exit-signal ended the job (EX_TEMPFAIL: a scheduler
// requeues on it).
const ExitCheckpointed = 75

// Config is the agent's policy, the same for cr_run and cr_restart.
type Config struct {
	// CheckpointSignal, ExitSignal and Interval take checkpoints into File
	// or, with Dir, into checkpoint directory Dir (as cr_checkpoint -d).
	CheckpointSignal unix.Signal
	ExitSignal       unix.Signal
	Interval         time.Duration
	File, Dir        string
	// Image is the image the job was restored from (cr_restart).
	Image string
	// Name prefixes the agent's messages: "cr_run".
	Name string
	// Inside is set when the agent is pid 1 of namespaces that cr_restart
	// made for its job: its socket is then named by its pid outside,
	// connections also come relayed from the outer cr_restart, and pids
	// in requests from outside are translated.
	Inside *namespace.Inside
}

// Agent supervises one job.
type Agent struct {
	cfg   Config
	self  int
	uid   int
	ln    *net.UnixListener
	nsln  *net.UnixListener // pid 1 of the job's namespace: the name the job finds (nil: none)
	was   int               // the pid the job was known by, which we answer for too (0: none)
	wasln *net.UnixListener // the socket for was (nil: none)
	owner *ptrace.Owner
	job   int   // the job's main process
	roots []int // the job's processes that are our children (job first)
	live  map[int]bool
	first unix.WaitStatus // how job ended

	// mu is held for a whole checkpoint; the reaper takes it too, so it
	// never consumes the ptrace stops of a job being checkpointed.
	mu     sync.Mutex
	filter *image.Seccomp // the job's filter (nil: none)
	images []image.FileID // the files the job's memory is mapped from (Job.Images)
	notes  notes

	clMu    sync.Mutex
	clients map[*client]bool
	ids     uint64

	sigs      chan os.Signal // from New on, so none is lost while a job is set up
	inflight  sync.WaitGroup // requests not yet answered
	reap      chan struct{}
	exited    chan unix.WaitStatus
	exitByCkp chan struct{}
}

var (
	caught     chan os.Signal
	registered = make(chan struct{}) // closed once every signal is asked for
	chldQueued atomic.Bool           // a SIGCHLD waits in caught
)

// CatchSignals starts catching every signal for the agent, which forwards
// them once it supervises a job, and returns once it does. Call it (or
// CatchSignalsSoon) first thing in main: a Go program ignores SIGUSR1 and
// SIGUSR2 until it asks for them, and a signal meant for the job must not
// be lost while the job is being set up. The flood of SIGCHLDs that ptrace
// stops raise (a restore makes hundreds) is folded into one, so it cannot
// crowd out the signals that matter.
func CatchSignals() chan os.Signal {
	c := CatchSignalsSoon()
	<-registered
	return c
}

// CatchSignalsSoon is CatchSignals without waiting: asking for every
// signal takes the Go runtime about a millisecond (a hand-over to its
// signal thread for each), which a restart does on the other CPU while
// it reads the image. Until SignalsCaught returns, a signal has the
// action it has at exec (most end cr_restart, and the processes it is
// rebuilding die with it), as one does before main runs; the processes
// must not run before then.
func CatchSignalsSoon() chan os.Signal {
	if caught != nil {
		return caught
	}
	raw := make(chan os.Signal, 256)
	caught = make(chan os.Signal, 256)
	go func() {
		signal.Notify(raw)
		close(registered)
		for s := range raw {
			switch s {
			case unix.SIGURG, // the Go runtime's own preemption signal
				unix.SIGPIPE, unix.SIGXFSZ: // raised on us by our own writes: not for the job
				continue
			case unix.SIGCHLD:
				if chldQueued.Swap(true) {
					continue // one queued SIGCHLD stands for them all
				}
			}
			caught <- s
		}
	}()
	return caught
}

// SignalsCaught returns once CatchSignalsSoon has asked for every signal
// (at once if it was never called).
func SignalsCaught() {
	if caught != nil {
		<-registered
	}
}

// New makes an agent and binds its control socket, so that the job can
// reach it from its first instruction.
func New(cfg Config) (*Agent, error) {
	a := &Agent{cfg: cfg, self: os.Getpid(), uid: os.Getuid(), owner: ptrace.NewOwner(),
		clients: map[*client]bool{}, reap: make(chan struct{}, 1),
		exited: make(chan unix.WaitStatus, 1), exitByCkp: make(chan struct{}, 1)}
	a.notes.m = map[int][]note{}
	a.sigs = CatchSignalsSoon() // Run waits for them (SignalsCaught)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, os.NewSyscallError("prctl(PR_SET_CHILD_SUBREAPER)", err)
	}
	name := a.self
	if cfg.Inside != nil {
		name = cfg.Inside.Pid
	}
	ln, err := control.Listen(name)
	if err != nil {
		// A socket we cannot make must not stop the job: it runs,
		// unreachable by clients.
		a.logf("agent pid %d: %v: the job runs but cannot be checkpointed through its agent", a.self, err)
	}
	a.ln = ln
	if cfg.Inside != nil {
		if a.nsln, err = control.ListenNamespace(); err != nil {
			a.logf("agent pid %d: %v: the job's own libcr calls cannot reach its agent", a.self, err)
		}
	}
	return a, nil
}

// Job is what an agent supervises.
type Job struct {
	// Pids are the job's processes that are children of ours (one for
	// cr_run; for cr_restart, each process whose parent the image lacks),
	// the first being its main process.
	Pids []int
	// Filter is the job's seccomp filter (nil: none) and Listeners its
	// notification fds.
	Filter    *image.Seccomp
	Listeners []*os.File
	// Conns are libcr connections of restored processes: the agent adopts
	// them and tells each process it was restarted.
	Conns []Conn
	// Images are the image files the job's memory is mapped from (a lazy
	// restart), recognised as such by its checkpoints even once replaced.
	Images []image.FileID
	// Was is the pid the job was known by when its image was taken (the
	// parent its image records: the agent that took it, or the pid that
	// agent answered for). We answer for it too while no process has it,
	// and record it as the job's parent in our checkpoints, so that a
	// script's $! names the job across restarts.
	Was int
}

// Conn is our end of a restored process's libcr connection.
type Conn struct {
	Pid, Fd int // the process, and the connection's fd number in it
	File    *os.File
}

// Run supervises job. It returns, once all of job.Pids have exited, how
// the main process ended, and whether the agent ended the job after a
// checkpoint on the exit signal.
func (a *Agent) Run(job Job) (ws unix.WaitStatus, checkpointed bool) {
	SignalsCaught()
	a.job, a.filter, a.images = job.Pids[0], job.Filter, job.Images
	a.live = map[int]bool{}
	for _, pid := range job.Pids {
		a.live[pid] = true
	}
	a.roots = job.Pids
	for _, l := range job.Listeners {
		go a.listen(l)
	}
	a.standFor(job.Was)
	for _, c := range job.Conns {
		if err := a.adoptRestored(c.Pid, c.Fd, c.File); err != nil {
			a.logf("%v", err)
		}
	}
	if a.cfg.Inside != nil {
		go a.serve(a.nsln)
		go a.serveRelayed()
	} else {
		go a.serve(a.ln)
	}
	go a.reaper()
	if a.cfg.Interval > 0 {
		go a.every(a.cfg.Interval)
	}
	ws = a.supervise()
	a.Close()
	a.drain(5 * time.Second)
	select {
	case <-a.exitByCkp:
		return ws, true
	default:
		return ws, false
	}
}

// Close gives up the control socket of an agent that will supervise no
// job (its cr_restart goes on in new namespaces instead).
func (a *Agent) Close() {
	if a.ln != nil {
		a.ln.Close()
	}
	if a.nsln != nil {
		a.nsln.Close()
	}
	if a.wasln != nil {
		a.wasln.Close()
	}
}

// standFor makes us answer for pid was too (see Job.Was). As pid 1 of
// the job's pid namespace we answer for a pid outside it, and clients see
// us by our pid outside.
func (a *Agent) standFor(was int) {
	if was <= 1 || was == a.self || a.cfg.Inside != nil && was == a.cfg.Inside.Pid {
		return
	}
	ln, err := control.ListenFor(was)
	if err != nil {
		a.logf("agent pid %d: %v: pid %d no longer names the job; use %d", a.self, err, was, a.self)
		return
	}
	a.was, a.wasln = was, ln
	go a.serve(ln)
}

// isJob says whether a request's target pid names the whole job: 0, our
// pid, or the pid we answer for.
func (a *Agent) isJob(pid int) bool {
	return pid == 0 || pid == a.self || a.was != 0 && pid == a.was
}

// Exit ends the calling process as ws says the job ended: with its exit
// status, or killed by the same signal.
func Exit(ws unix.WaitStatus) {
	if ws.Signaled() {
		kernel.DieBySignal(ws.Signal())
	}
	os.Exit(ws.ExitStatus())
}

// drain waits up to d for the answers to requests in flight: a request
// that ended the job (--kill) still gets its reply.
func (a *Agent) drain(d time.Duration) {
	done := make(chan struct{})
	go func() {
		a.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func (a *Agent) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, a.cfg.Name+": "+format+"\n", args...)
}
