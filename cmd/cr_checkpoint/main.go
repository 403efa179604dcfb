// Command cr_checkpoint saves running processes into an image, with BLCR's
// options: see `cr_checkpoint --help` and the README.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

	"stasis/checkpoint"
	"stasis/internal/blcr"
	stcli "stasis/internal/cli"
	"stasis/internal/control"
	"stasis/internal/ptrace"
	"stasis/internal/trace"
	"stasis/scope"
	"stasis/writer"
)

const version = "stasis 0.1"

type cli struct {
	Verbose  bool             `short:"v" help:"Print progress messages to stderr, and a progress bar on a terminal for a checkpoint that takes more than a moment."`
	Progress bool             `help:"Show the progress bar on stderr even when it is not a terminal."`
	Quiet    bool             `short:"q" help:"Suppress error and warning messages."`
	Version  kong.VersionFlag `help:"Print version information and exit."`

	Tree bool   `short:"T" group:"Scope" help:"ID is a process; save it and all its descendants (default)."`
	Pid  bool   `short:"p" aliases:"process" group:"Scope" help:"ID is a single process."`
	Pgid bool   `short:"g" aliases:"group" group:"Scope" help:"ID is a process group."`
	Sid  bool   `short:"s" aliases:"session" group:"Scope" help:"ID is a session."`
	Name string `short:"n" group:"Scope" placeholder:"NAME" help:"Save your processes whose command name is NAME (as ps shows it), instead of an ID: with -T (the default) the one tree they form (refused, naming the candidates, when they are in several unrelated trees), with -p every one of them, into one image. An ID that is not a number is taken as a NAME."`

	Cwd  bool   `short:"c" group:"Destination" help:"Save as context.ID in the current directory (default)."`
	Dir  string `short:"d" group:"Destination" placeholder:"DIR" help:"Save one context.PID file per process in new directory DIR."`
	File string `short:"f" group:"Destination" placeholder:"FILE" help:"Save as FILE."`
	Fd   *int   `short:"F" group:"Destination" placeholder:"FD" help:"Write the image to open file descriptor FD."`

	Atomic    bool    `group:"Replacement" help:"Create or replace the image atomically (default)."`
	Backup    *string `group:"Replacement" placeholder:"NAME" help:"Keep an existing image as NAME, or as FILE.~N~ (--backup=)."`
	Clobber   bool    `group:"Replacement" help:"Remove an existing image first and write in its place."`
	Noclobber bool    `group:"Replacement" help:"Fail if the image exists."`

	Run    bool `group:"After the checkpoint (the last one given wins)" help:"Let the processes run on (default)."`
	Signal int  `short:"S" group:"After the checkpoint (the last one given wins)" placeholder:"NUM" help:"Send signal NUM."`
	Stop   bool `group:"After the checkpoint (the last one given wins)" help:"Send SIGSTOP."`
	Term   bool `group:"After the checkpoint (the last one given wins)" help:"Send SIGTERM."`
	Abort  bool `group:"After the checkpoint (the last one given wins)" help:"Send SIGABRT."`
	Kill   bool `group:"After the checkpoint (the last one given wins)" help:"Send SIGKILL."`
	Cont   bool `group:"After the checkpoint (the last one given wins)" help:"Send SIGCONT."`

	Sync   bool `group:"Sync" help:"fsync the image and its directory (default)."`
	Nosync bool `group:"Sync" help:"Do not fsync."`

	SaveExe     bool `group:"Mapped files" help:"Save the executable in the image."`
	SavePrivate bool `group:"Mapped files" help:"Save privately mapped files (libraries)."`
	SaveShared  bool `group:"Mapped files" help:"Save shared mapped files."`

	KeepFilesBelow int64 `placeholder:"BYTES" default:"1048576" help:"Keep in the image the contents of every regular file a process holds open that is smaller than BYTES (64 MiB in all per process), so that a restart can make it again if it was removed meanwhile (a compiler's temporary file); 0 keeps none."`

	CutPipes       bool `help:"Save a pipe, or a unix stream or seqpacket socket, whose other end a process outside the checkpoint holds as one whose other end is closed: after a restart the process reads what was waiting in it, then end of file, and a write to it fails with EPIPE; cr_restart --inherit-fd gives it a descriptor instead. For a pipe the job inherited and does not use (a CI runner's, a batch system's), or a connection it will make again. Standard input, output and error are never cut: the restart gives its own."`
	TCPEstablished bool `name:"tcp-established" help:"Save a TCP connection whose peer is outside the checkpoint (a client of a server, a server of a client) so that it goes on after a restart on this machine, as CRIU's --tcp-established does. Root only (TCP_REPAIR). With --kill, an nftables rule drops what the peer sends until cr_restart has made the connection again, so the peer sees no reset, only a pause."`
	TCPClose       bool `name:"tcp-close" help:"Save a TCP connection whose peer is outside the checkpoint as one its peer reset: after a restart the program sees ECONNRESET on it, as on any connection that broke, and may connect again. Any user. With --kill the peer sees a reset too."`
	SaveAll        bool `group:"Mapped files" help:"All of the above."`
	SaveNone       bool `group:"Mapped files" help:"None of the above (default)."`

	PtracedError bool `group:"Traced processes" help:"Fail if a process is being traced (default)."`
	PtracedSkip  bool `group:"Traced processes" help:"Leave traced processes out."`
	PtracedAllow bool `group:"Traced processes" help:"Save traced processes too."`
	PtracerError bool `group:"Traced processes" help:"Fail if a process traces others (default)."`
	PtracerSkip  bool `group:"Traced processes" help:"Leave tracing processes out."`

	KmsgNone    bool `group:"Kernel messages (there are none: stasis has no kernel module)" help:"Accepted for BLCR compatibility."`
	KmsgError   bool `group:"Kernel messages (there are none: stasis has no kernel module)" help:"Accepted for BLCR compatibility."`
	KmsgWarning bool `group:"Kernel messages (there are none: stasis has no kernel module)" help:"Accepted for BLCR compatibility."`

	Time int `short:"t" placeholder:"SEC" help:"Give up if the checkpoint takes longer than SEC seconds (0, the default: no limit)."`

	Compress string `enum:"none,lz4,zstd" default:"none" help:"Compress the image (none, lz4, zstd; on every core). cr_restart and cr_info recognise compressed images by themselves."`

	Target string `arg:"" optional:"" name:"id" help:"Process id (or group or session id) to checkpoint; a name, as with -n, if it is not a number."`
	ID     int    `kong:"-"`
}

func main() {
	trace.Mark("cr_checkpoint: started")
	var c cli
	os.Args = append(os.Args[:1], stcli.Args(os.Args[1:], nil)...)
	parser := kong.Must(&c, kong.Name("cr_checkpoint"), kong.Vars{"version": version},
		kong.Description("Checkpoint a process (BLCR-compatible): save the process ID, and by default all its "+
			"descendants, into one image that cr_restart restarts. A job started with cr_run or cr_restart is "+
			"checkpointed through its agent, which runs its libcr callbacks.\n\n"+
			"Exit status: 0 when the image is written; 22 (EINVAL) for a usage error; 110 (ETIMEDOUT) when "+
			"--time ran out; through an agent, 50 when a libcr callback cancelled the checkpoint for now "+
			"(CR_ETEMPFAIL), 51 when one cancelled it for good and the job was killed (CR_EPERMFAIL), 3 when "+
			"every process asked to be omitted; 1 for any other failure."), stcli.Exit())
	_, err := parser.Parse(blcr.NormalizeArgs(os.Args[1:]))
	parser.FatalIfErrorf(err)
	trace.Mark("cr_checkpoint: arguments parsed")
	if err = c.target(); err == nil {
		trace.Mark("cr_checkpoint: started")
		stop := trace.Profile()
		err = run(&c)
		stop()
		trace.Report()
	}
	if err != nil {
		if !c.Quiet {
			fmt.Fprintln(os.Stderr, "cr_checkpoint:", err)
		}
		var se *statusError
		if errors.As(err, &se) {
			os.Exit(se.status)
		}
		os.Exit(1)
	}
}

// target takes the ID argument: a number, or a name as -n gives one.
func (c *cli) target() error {
	switch {
	case c.Name != "" && c.Target != "":
		return usage("-n %s and ID %s: give one of them", c.Name, c.Target)
	case c.Name == "" && c.Target == "":
		return usage("give the ID of what to checkpoint, or -n NAME")
	case c.Name != "":
		return nil
	}
	id, err := strconv.Atoi(c.Target)
	if err != nil {
		c.Name = c.Target
		return nil
	}
	c.ID = id
	return nil
}

// scope is what ID names and the ptrace policies (the last option of each
// group wins, as in BLCR).
func (c *cli) scope() (scope.Kind, scope.Policies) {
	kind := scope.Kind(blcr.Last(os.Args[1:], map[string]int{
		"-T": int(scope.Tree), "--tree": int(scope.Tree), "-p": int(scope.Process), "--pid": int(scope.Process),
		"--process": int(scope.Process), "-g": int(scope.Group), "--pgid": int(scope.Group), "--group": int(scope.Group),
		"-s": int(scope.Session), "--sid": int(scope.Session), "--session": int(scope.Session)}, int(scope.Tree)))
	pol := scope.Policies{
		Ptraced: scope.Policy(blcr.Last(os.Args[1:], map[string]int{"--ptraced-error": int(scope.Fail),
			"--ptraced-skip": int(scope.Skip), "--ptraced-allow": int(scope.Allow)}, int(scope.Fail))),
		Ptracer: scope.Policy(blcr.Last(os.Args[1:], map[string]int{"--ptracer-error": int(scope.Fail),
			"--ptracer-skip": int(scope.Skip)}, int(scope.Fail))),
	}
	return kind, pol
}

// policy is the replacement policy: the last of --atomic, --backup[=NAME],
// --clobber and --noclobber wins, as in BLCR.
func (c *cli) policy() writer.Options {
	o := writer.Options{Sync: !c.Nosync}
	for _, a := range os.Args[1:] {
		switch {
		case a == "--":
			return o
		case a == "--atomic":
			o.Policy = writer.Atomic
		case a == "--clobber":
			o.Policy = writer.Clobber
		case a == "--noclobber":
			o.Policy = writer.NoClobber
		case a == "--backup" || strings.HasPrefix(a, "--backup="):
			o.Policy, o.BackupName = writer.Backup, strings.TrimPrefix(strings.TrimPrefix(a, "--backup"), "=")
		}
	}
	return o
}

// dest is where the image goes: -F FD (a stream, policies ignored as in
// BLCR) or the file path under the policy; -t sets a deadline.
func (c *cli) dest(path string) (checkpoint.Dest, error) {
	d := checkpoint.Dest{Path: path, Policy: c.policy(), Compress: c.Compress}
	if c.Progress || c.Verbose && isTerminal(os.Stderr) {
		d.Progress = &bar{}
	}
	if c.Verbose {
		d.Note = func(s string) { fmt.Fprintln(os.Stderr, "cr_checkpoint: "+s) }
	}
	if c.Time < 0 {
		return d, usage("-t %d: not a number of seconds", c.Time)
	}
	if c.Time > 0 {
		d.Deadline = time.Now().Add(time.Duration(c.Time) * time.Second)
	}
	if c.Fd != nil {
		if _, err := unix.FcntlInt(uintptr(*c.Fd), unix.F_GETFL, 0); err != nil {
			return d, fmt.Errorf("-F %d: not an open file descriptor: %w", *c.Fd, err)
		}
		d.Stream = os.NewFile(uintptr(*c.Fd), fmt.Sprintf("fd %d", *c.Fd))
	}
	return d, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// statusError is a failure with BLCR's exit status for it.
type statusError struct {
	msg    string
	status int
}

func (e *statusError) Error() string { return e.msg }

// usage is a usage error: exit status 22 (EINVAL), as for every command.
func usage(format string, a ...any) error {
	return &statusError{fmt.Sprintf(format, a...), stcli.UsageStatus}
}

func run(c *cli) error {
	sig, err := blcr.LastSignal(os.Args[1:])
	if err != nil {
		return err
	}
	path := c.File
	if c.Dir != "" {
		if c.File != "" || c.Fd != nil {
			return usage("-d DIR: give one destination, not -d with -f or -F")
		}
		path = c.Dir
	}
	if c.File != "" && c.Fd != nil {
		return usage("-f %s and -F %d: give one destination, not both", c.File, *c.Fd)
	}
	if c.TCPEstablished && c.TCPClose {
		return usage("--tcp-established and --tcp-close: give one (go on, or be reset)")
	}
	kind, pol := c.scope()
	var byName func() ([]int, error) // -n NAME of several processes with no one root
	if c.Name != "" {
		snap, err := scope.Take()
		if err != nil {
			return err
		}
		named, err := snap.ResolveName(c.Name, kind, pol)
		if err != nil {
			return err
		}
		if named.Root != 0 {
			c.ID = named.Root // then as if named by its pid
		} else {
			byName = func() ([]int, error) {
				snap, err := scope.Take()
				if err != nil {
					return nil, err
				}
				n, err := snap.ResolveName(c.Name, kind, pol)
				if err != nil {
					return nil, err
				}
				return n.Pids, nil
			}
			if path == "" {
				path = "context." + c.Name
			}
		}
	}
	if path == "" {
		path = "context." + strconv.Itoa(c.ID)
	}
	if path, err = filepath.Abs(path); err != nil {
		return err
	}
	if byName != nil {
		return c.save(byName, path, sig, kind)
	}
	conn, agent, err := control.Find(c.ID)
	switch {
	case err == nil:
		defer conn.Close()
		return viaAgent(c, conn, agent, path, sig, kind, pol)
	case !errors.Is(err, control.ErrNoAgent):
		return err
	}
	resolve := func() ([]int, error) {
		snap, err := scope.Take()
		if err != nil {
			return nil, err
		}
		return snap.Resolve(kind, c.ID, pol)
	}
	return c.save(resolve, path, sig, kind)
}

// save checkpoints what resolve names, directly (not through an agent).
func (c *cli) save(resolve func() ([]int, error), path string, sig unix.Signal, kind scope.Kind) error {
	dest, err := c.dest(path)
	if err != nil {
		return err
	}
	if dest.Stream != nil {
		defer dest.Stream.(*os.File).Close()
	}
	save := checkpoint.Save
	if c.Dir != "" {
		save = checkpoint.SaveDir
	}
	// libcr processes under no agent: we play the agent's part.
	lc, resolve, err := prepareLibcr(c, kind, resolve, path, sig)
	if err != nil {
		return err
	}
	err = save(ptrace.NewOwner(), resolve, dest, sig, checkpoint.Options{Save: saveFiles(), CutPipes: c.CutPipes, TCP: c.tcp(), KeepFilesBelow: c.keepBelow(), AgentFds: lc.Fds})
	status := 1
	if errors.Is(err, checkpoint.ErrTimeout) {
		status = control.StatusTimeout
	}
	lc.Done(path, status, err)
	if err != nil {
		if status != 1 {
			return &statusError{msg: err.Error(), status: status}
		}
		return err
	}
	if c.Verbose {
		what := fmt.Sprintf("%s %d", kind, c.ID)
		if c.ID == 0 {
			what = "the processes named " + c.Name
		}
		fmt.Fprintf(os.Stderr, "cr_checkpoint: %s saved to %s\n", what, path)
	}
	return nil
}

// prepareLibcr runs the callbacks of the libcr processes among those
// resolve names that run under no agent, as an agent would
// (docs/libcr-protocol.md), and returns them with a resolve that leaves
// out those that asked to be omitted. A cancelled checkpoint is an error
// with BLCR's status (50, 51, 3).
func prepareLibcr(c *cli, kind scope.Kind, resolve func() ([]int, error), path string, sig unix.Signal) (*control.Direct, func() ([]int, error), error) {
	listening, err := control.LibcrListening()
	if err != nil || len(listening) == 0 {
		// None (or no sock_diag to ask, as before libcr listened): nothing
		// more to look at.
		return &control.Direct{}, resolve, nil
	}
	all, err := resolve()
	if err != nil {
		return nil, nil, err
	}
	pids := slices.DeleteFunc(slices.Clone(all), func(pid int) bool { return !listening[pid] })
	if len(pids) == 0 {
		return &control.Direct{}, resolve, nil
	}
	wait, timed := 60*time.Second, false // as the agent waits
	if c.Time > 0 && time.Duration(c.Time)*time.Second <= wait {
		wait, timed = time.Duration(c.Time)*time.Second, true
	}
	ev := control.Event{Ev: control.EvPrepare, Requester: os.Getpid(), Target: c.ID, Scope: kind.String(), Signal: int(sig), Path: path}
	lc, omitted, status, err := control.Prepare(pids, ev, wait, timed)
	if err == nil && len(omitted) == len(all) {
		status, err = control.StatusOmitted, errors.New("every process asked to be omitted: no processes checkpointed")
	}
	if err != nil {
		lc.Done(path, status, err)
		if status == control.StatusPermFail { // every process of the checkpoint, as BLCR
			for _, pid := range all {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		return nil, nil, &statusError{msg: err.Error(), status: control.Failed(status, err).Status}
	}
	return lc, func() ([]int, error) {
		pids, err := resolve()
		return slices.DeleteFunc(pids, func(pid int) bool { return omitted[pid] }), err
	}, nil
}

// viaAgent asks the agent of the target to take the checkpoint: it runs
// the job's libcr callbacks, knows its filter, and may ptrace it where we
// may not.
func viaAgent(c *cli, conn *control.Conn, agent int, path string, sig unix.Signal, kind scope.Kind, pol scope.Policies) error {
	pol2 := c.policy()
	if pol2.BackupName != "" {
		// The agent works in another directory.
		if b, err := filepath.Abs(pol2.BackupName); err == nil {
			pol2.BackupName = b
		}
	}
	req := control.Request{Op: control.OpCheckpoint, ID: 1, Target: c.ID, Scope: kind.String(),
		Path: path, Signal: int(sig), NoSync: c.Nosync, Ptraced: int(pol.Ptraced), Ptracer: int(pol.Ptracer),
		Policy: int(pol2.Policy), Backup: pol2.BackupName, Time: c.Time, Stream: c.Fd != nil, Compress: c.Compress,
		Save: int(saveFiles()), Dir: c.Dir != "", CutPipes: c.CutPipes, TCP: int(c.tcp()), KeepFilesBelow: c.keepBelow()}
	if c.ID == agent && (kind == scope.Tree || kind == scope.Process) {
		req.Target = 0 // the agent's pid names its job; a group or session id is as given
	}
	if c.Verbose {
		fmt.Fprintf(os.Stderr, "cr_checkpoint: asking agent pid %d\n", agent)
	}
	sendErr := conn.Send(req)
	var r control.Reply
	if err := conn.Recv(&r); err != nil {
		// An agent that turns us away says why before it hangs up.
		return fmt.Errorf("agent pid %d: no answer: %w", agent, errors.Join(sendErr, err))
	}
	if r.WantFd {
		if err := unix.Sendmsg(conn.Fd, []byte{0}, unix.UnixRights(*c.Fd), nil, 0); err != nil {
			return fmt.Errorf("agent pid %d: pass fd %d: %w", agent, *c.Fd, err)
		}
		if err := conn.Recv(&r); err != nil {
			return fmt.Errorf("agent pid %d: no answer: %w", agent, err)
		}
	}
	if !r.OK {
		status := r.Status
		if status == 0 {
			status = 1
		}
		return &statusError{msg: r.Error, status: status}
	}
	if c.Verbose {
		fmt.Fprintf(os.Stderr, "cr_checkpoint: pid %d saved to %s by agent pid %d\n", c.ID, r.Path, agent)
	}
	return nil
}

// saveFiles is what the --save-* options ask for, read left to right.
func saveFiles() checkpoint.SaveFiles {
	var s checkpoint.SaveFiles
	o := blcr.SaveOptions(os.Args[1:])
	for _, f := range []struct {
		on  bool
		bit checkpoint.SaveFiles
	}{{o.Exe, checkpoint.SaveExe}, {o.Private, checkpoint.SavePrivate}, {o.Shared, checkpoint.SaveShared}} {
		if f.on {
			s |= f.bit
		}
	}
	return s
}

// tcp is what --tcp-established and --tcp-close ask for.
func (c *cli) tcp() checkpoint.TCPOutside {
	switch {
	case c.TCPEstablished:
		return checkpoint.TCPEstablished
	case c.TCPClose:
		return checkpoint.TCPClose
	}
	return checkpoint.TCPRefuse
}

// keepBelow is --keep-files-below as checkpoint.Options wants it.
func (c *cli) keepBelow() int64 {
	if c.KeepFilesBelow <= 0 {
		return -1
	}
	return c.KeepFilesBelow
}
