// Command cr_restart rebuilds the processes of an image and stays their
// parent, exiting as they exit (BLCR-compatible): see `cr_restart --help`.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

	"stasis/agent"
	"stasis/internal/blcr"
	stcli "stasis/internal/cli"
	"stasis/internal/ptrace"
	"stasis/internal/trace"
	"stasis/internal/trust"
	"stasis/namespace"
	"stasis/restart"
)

const version = "stasis 0.1"

type cli struct {
	Quiet   bool             `short:"q" help:"Suppress error and warning messages."`
	Verbose bool             `short:"v" help:"Say what was restored: the image, the processes' pids, how long it took."`
	Version kong.VersionFlag `help:"Print version information and exit."`

	File string `short:"f" placeholder:"FILE" help:"Restart from FILE."`
	Fd   *int   `short:"F" placeholder:"FD" help:"Read the image from open file descriptor FD."`
	Dir  string `short:"d" placeholder:"DIR" help:"Restart from checkpoint directory DIR (cr_checkpoint -d); an IMAGE that is a directory is one too."`

	Run    bool `group:"After the restart (the last one given wins)" help:"Let the processes run (default)."`
	Signal int  `short:"S" group:"After the restart (the last one given wins)" placeholder:"NUM" help:"Send signal NUM."`
	Stop   bool `aliases:"freeze" group:"After the restart (the last one given wins)" help:"Send SIGSTOP."`
	Term   bool `group:"After the restart (the last one given wins)" help:"Send SIGTERM."`
	Abort  bool `group:"After the restart (the last one given wins)" help:"Send SIGABRT."`
	Kill   bool `group:"After the restart (the last one given wins)" help:"Send SIGKILL."`
	Cont   bool `group:"After the restart (the last one given wins)" help:"Send SIGCONT."`

	RestorePgid bool    `negatable:"" group:"Ids" help:"Put the processes back into their own process groups (default: --no-restore-pgid, cr_restart's)."`
	RestoreSid  bool    `negatable:"" group:"Ids" help:"Put the processes back into their own sessions (default: --no-restore-sid, cr_restart's)."`
	RestorePid  pidFlag `negatable:"" group:"Ids" help:"Give the processes their original pids and thread ids (default), in a new pid namespace where they cannot be had here (an ordinary user; a pid in use); --restore-pid=strict fails instead of using a namespace; --no-restore-pid gives them new pids."`

	TrustImage bool `group:"Files" help:"Root only: restore the image with the credentials, capabilities and files it records, even when its file's owner does not hold them. Without it root restores an image as the user who owns the file, and refuses one that another user could have written (see docs/SECURITY.md)."`

	NoLazy     bool `group:"Files" help:"Copy all page data at restart instead of mapping it from the image file (for images on network file systems)."`
	Unverified bool `group:"Files" help:"Map page data from the image file without checking its checksums first: faster for a large image not in the page cache, but a damaged page reaches the program unnoticed (see docs/commands.md, Lazy restart)."`

	ChangedFiles string `enum:"refuse-rw,refuse,warn" default:"refuse-rw" placeholder:"MODE" group:"Files" help:"What a regular file the image holds open that changed since the checkpoint does (a --run image is a point in time; the job may have gone on writing): refuse-rw (default) refuses the restart for one held open for reading and writing and warns of the others, refuse refuses it for any, warn warns of each and goes on."`

	InheritFd []string `sep:"none" placeholder:"fd[N]:KIND:[INODE]" group:"Files" help:"Give the restored processes cr_restart's fd N in place of the pipe or unix socket KIND:[INODE] that led outside the checkpoint and that cr_checkpoint --cut-pipes cut (repeatable; CRIU's spelling, as in fd[7]:pipe:[123456]; without it such an end comes back with its other end closed)."`
	TCPClose  bool     `name:"tcp-close" help:"Restore the TCP connections to peers outside the checkpoint that cr_checkpoint --tcp-established saved as ones their peer reset (the program sees ECONNRESET, and may connect again), as CRIU's --tcp-close does: where their peer is gone, or without root, which putting them back needs."`

	Relocate []string `sep:"none" placeholder:"OLD=NEW" group:"Files" help:"Open files, directories and mappings that were under OLD under NEW instead (repeatable; absolute paths, whole leading components, \\= for a '=' in a path; the first match wins)."`

	RunOnSuccess  string `placeholder:"CMD" group:"Hooks (run with sh -c; a non-zero exit becomes cr_restart's)" help:"Run CMD once the processes are rebuilt and running."`
	RunOnFailArgs string `placeholder:"CMD" group:"Hooks (run with sh -c; a non-zero exit becomes cr_restart's)" help:"Run CMD when the options or the image cannot be used."`
	RunOnFailTemp string `placeholder:"CMD" group:"Hooks (run with sh -c; a non-zero exit becomes cr_restart's)" help:"Run CMD on a failure that may pass by itself (a pid in use, out of memory)."`
	RunOnFailEnv  string `placeholder:"CMD" group:"Hooks (run with sh -c; a non-zero exit becomes cr_restart's)" help:"Run CMD on a failure of the environment (a missing or changed file, permissions)."`
	RunOnFailPerm string `placeholder:"CMD" group:"Hooks (run with sh -c; a non-zero exit becomes cr_restart's)" help:"Run CMD on any other failure (a damaged image, say)."`
	RunOnFailure  string `placeholder:"CMD" group:"Hooks (run with sh -c; a non-zero exit becomes cr_restart's)" help:"Run CMD on any failure (sets all four --run-on-fail-*; a later one overrides it)."`

	OmitMaybe  bool `group:"Checkpoints of the restarted job" help:"Leave cr_restart out of later checkpoints (default; it is the job's agent, never part of an image)."`
	OmitAlways bool `group:"Checkpoints of the restarted job" help:"Leave cr_restart out of later checkpoints (the same: the agent is rebuilt by each restart)."`
	OmitNever  bool `group:"Checkpoints of the restarted job" help:"Refused: an image cannot hold cr_restart itself."`

	KmsgNone    bool `group:"Kernel messages (BLCR; stasis has no kernel part, so there are none)" help:"Accepted and ignored."`
	KmsgError   bool `group:"Kernel messages (BLCR; stasis has no kernel part, so there are none)" help:"Accepted and ignored (BLCR's default)."`
	KmsgWarning bool `group:"Kernel messages (BLCR; stasis has no kernel part, so there are none)" help:"Accepted and ignored."`

	agent.Flags

	Image string `arg:"" optional:"" help:"The image to restart."`
}

func main() {
	if n, ok := os.LookupEnv(restart.GuardEnv); ok {
		restart.Guard(n) // a restore's release guard, not a command (restart/guard.go)
	}
	inherited := trust.Inherited()
	inside, err := namespace.Enter()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cr_restart:", err)
		os.Exit(1)
	}
	trace.Mark("cr_restart: started")
	stopProfile := trace.Profile()
	// Asked for on another goroutine, while this one parses the command
	// line and checks the image's owner; waited for before the restore.
	agent.CatchSignalsSoon()
	restoreGC := quietGC()
	c, ok := quickParse(os.Args[1:])
	if !ok {
		if _, err := newParser(&c).Parse(stcli.Args(os.Args[1:], nil)); err != nil {
			fail(argsError{err}, quiet(os.Args[1:]))
		}
	}
	began := time.Now()
	trace.Mark("cr_restart: arguments parsed")
	if inside == nil {
		if err := asOwner(&c, inherited); err != nil {
			fail(err, c.Quiet)
		}
	}
	trace.Mark("cr_restart: image owner checked")
	if needNamespace(&c, inside) {
		restoreGC() // this process only relays, for as long as the job runs
		inNamespace(&c)
	}
	// Before the restore changes our SIGCHLD action (SA_NOCLDSTOP while
	// it rebuilds, restart/sigchld.go), which asking for the signal
	// afterwards would undo.
	agent.SignalsCaught()
	a, r, err := start(&c, inside)
	restoreGC()
	if err != nil && fallBack(&c, inside, err) {
		inNamespace(&c)
	}
	if err != nil {
		fail(err, c.Quiet)
	}
	trace.Report()
	stopProfile()
	if c.Verbose {
		fmt.Fprintf(os.Stderr, "cr_restart: restored %s in %v: pids %v\n", imageName(&c), time.Since(began).Round(time.Millisecond), r.Pids)
	}
	for _, n := range r.Notes {
		if !c.Quiet {
			fmt.Fprintln(os.Stderr, "cr_restart: notice:", n)
		}
	}
	if st := runHook(c.RunOnSuccess); st != 0 {
		// BLCR: cr_restart exits with the hook's status; the restored
		// processes run on without their agent.
		os.Exit(st)
	}
	job := agent.Job{Pids: r.Pids, Filter: r.Seccomp, Listeners: r.Listeners, Images: r.Images, Was: r.Parent}
	for _, c := range r.AgentConns {
		job.Conns = append(job.Conns, agent.Conn{Pid: c.Pid, Fd: c.Fd, File: c.File})
	}
	ws, checkpointed := a.Run(job)
	if checkpointed {
		os.Exit(agent.ExitCheckpointed)
	}
	if inside != nil {
		inside.Report(ws)
	}
	agent.Exit(ws)
}

// restoreHeap caps the heap while the collector is off for a restore
// (quietGC): an image of very many records still collects.
const restoreHeap = 256 << 20

// quietGC turns the garbage collector off until the heap reaches
// restoreHeap, and returns what puts it back: a restore takes
// milliseconds and keeps little of what it allocates (a tree of 100
// processes spent a tenth of cr_restart's CPU in the collector, with
// the heap never above a few MiB), while the agent it becomes runs for
// as long as the job does.
func quietGC() (restore func()) {
	pct := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(restoreHeap)
	return func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
	}
}

// newParser is kong's parser of cr_restart's command line into c.
func newParser(c *cli) *kong.Kong {
	return kong.Must(c, kong.Name("cr_restart"), kong.Vars{"version": version}, stcli.Docs(),
		kong.Description("Restart processes from a checkpoint image (BLCR-compatible); cr_restart becomes their agent: "+
			"their parent, forwarding the signals it receives, and the one a later cr_checkpoint asks.\n\n"+
			"Exit status: that of the restored process (or cr_restart is killed by the same signal); 75 when a "+
			"checkpoint on --checkpoint-exit-signal ended the job; on a failure, the errno behind it (BLCR's rule: "+
			"ENOENT 2, EBUSY 16, EINVAL 22 for a usage error...) after running the hook of the failure's class, "+
			"or the hook's status if it exits non-zero; that of --run-on-success if it exits non-zero."))
}

// quickParse parses the command line of the common case, a lone IMAGE
// (`cr_restart FILE`), into what kong would make of it, without building
// kong's model of every option (about a millisecond); it reports false
// for any other command line, which kong parses
// (TestQuickParseAsKong holds the two to agree).
func quickParse(args []string) (cli, bool) {
	if len(args) != 1 || args[0] == "" || strings.HasPrefix(args[0], "-") || !utf8.ValidString(args[0]) {
		return cli{}, false // kong's (which reads bytes that are not UTF-8 as U+FFFD)
	}
	return cli{Image: args[0], ChangedFiles: "refuse-rw"}, true
}

// imageName is the image as the command line gave it.
func imageName(c *cli) string {
	switch {
	case c.Fd != nil:
		return fmt.Sprintf("fd %d", *c.Fd)
	case c.File != "":
		return c.File
	case c.Dir != "":
		return c.Dir
	}
	return c.Image
}

// quiet says whether -q was among args, for failures before they parse.
func quiet(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-q" || a == "--quiet" {
			return true
		}
	}
	return false
}

func start(c *cli, inside *namespace.Inside) (*agent.Agent, *restart.Restored, error) {
	path := c.Image
	if c.File != "" {
		if path != "" {
			return nil, nil, badArgs("give the image either as -f FILE or as an argument, not both")
		}
		path = c.File
	}
	if c.Dir != "" {
		if path != "" || c.Fd != nil {
			return nil, nil, badArgs("give the image as IMAGE, -f FILE, -F FD or -d DIR (one of them)")
		}
		path = c.Dir
	}
	if (path == "") == (c.Fd == nil) {
		return nil, nil, badArgs("give the image as IMAGE, -f FILE, -F FD or -d DIR (one of them)")
	}
	st, err := os.Stat(path)
	dir := err == nil && st.IsDir() && c.Fd == nil // a checkpoint directory
	if c.Dir != "" && !dir {
		return nil, nil, badArgs("-d %s: not a directory", c.Dir)
	}
	sig, err := blcr.LastSignal(os.Args[1:])
	if err != nil {
		return nil, nil, argsError{err}
	}
	cfg, err := c.Config("cr_restart")
	if err != nil {
		return nil, nil, argsError{err}
	}
	if blcr.Last(os.Args[1:], map[string]int{"--omit-maybe": 0, "--omit-always": 0, "--omit-never": 1}, 0) == 1 {
		return nil, nil, badArgs("--omit-never: an image cannot hold cr_restart itself (it is the job's agent, and each restart makes a new one); use --omit-maybe or --omit-always")
	}
	cfg.Inside = inside
	opt := restart.Options{Signal: sig, RestorePgid: c.RestorePgid, RestoreSid: c.RestoreSid, Pids: pidMode(c, inside),
		FromFile: c.Fd == nil, NoLazy: c.NoLazy, Unverified: c.Unverified, BeforeRelease: agent.SignalsCaught,
		Changed:  map[string]restart.ChangedFiles{"refuse": restart.ChangedRefuse, "warn": restart.ChangedWarn}[c.ChangedFiles],
		TCPClose: c.TCPClose}
	for _, arg := range c.InheritFd {
		in, err := restart.ParseInherit(arg)
		if err != nil {
			return nil, nil, argsError{err}
		}
		opt.Inherit = append(opt.Inherit, in)
	}
	for _, arg := range c.Relocate {
		r, ok, err := restart.ParseRelocation(arg)
		if err != nil {
			return nil, nil, argsError{err}
		}
		if ok {
			opt.Relocate = append(opt.Relocate, r)
		}
	}
	var f *os.File
	if c.Fd != nil {
		// A stream (a pipe, say): read once, front to back.
		if _, err := unix.FcntlInt(uintptr(*c.Fd), unix.F_GETFL, 0); err != nil {
			return nil, nil, badArgs("-F %d: not an open file descriptor: %w", *c.Fd, err)
		}
		path = fmt.Sprintf("fd %d", *c.Fd)
		// Read a duplicate: the caller's fd stays open, for a restart in
		// a new pid namespace to read it again (fallBack).
		dup, err := unix.FcntlInt(uintptr(*c.Fd), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, nil, fmt.Errorf("-F %d: dup: %w", *c.Fd, err)
		}
		f = os.NewFile(uintptr(dup), path)
	} else {
		if cfg.Image, err = filepath.Abs(path); err != nil {
			return nil, nil, err
		}
		if cfg.File == "" && cfg.Dir == "" && dir {
			cfg.Dir = cfg.Image // the agent's own checkpoints replace the directory
		} else if cfg.File == "" && cfg.Dir == "" {
			cfg.File = cfg.Image // the agent's own checkpoints replace the image, atomically
		}
		if f, err = os.Open(path); err != nil {
			return nil, nil, argsError{err} // BLCR: an image that cannot be opened is a bad argument
		}
	}
	defer f.Close()
	a, err := agent.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	trace.Mark("cr_restart: agent made")
	var r *restart.Restored
	if dir {
		r, err = restart.RestoreDir(ptrace.NewOwner(), path, opt)
	} else {
		r, err = restart.Restore(ptrace.NewOwner(), f, opt)
	}
	if err != nil {
		a.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, r, nil
}
