package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/seccomp"
)

// ShimName is the argv[0] under which the stasis binary runs as the shim.
const ShimName = "stasis-shim"

// Filter says how a job is watched for what no image can hold.
type Filter int

const (
	// FilterNone: no seccomp filter. A checkpoint still refuses such
	// objects, found in /proc, naming each; the job pays nothing.
	FilterNone Filter = iota
	// FilterWatch: the filter sends each creating call to the agent, which
	// notes who made what and when. It costs every system call of the job
	// the kernel's seccomp entry path (about 10 ns).
	FilterWatch
	// FilterDeny: the filter makes those calls fail with ENOSYS.
	FilterDeny
)

// Start starts prog as the job. With a filter it goes through the shim, a
// re-exec of our own binary that installs the filter, hands us its
// listener and execs prog. The job gets our standard descriptors and
// those in keep, at their numbers; nothing else. It returns the job's
// pid, its filter (nil: none) and the listener (nil unless FilterWatch).
func Start(prog string, args []string, f Filter, keep []int) (int, *image.Seccomp, *os.File, error) {
	extra := kept(keep)
	if f == FilterNone {
		cmd := exec.Command(prog, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.ExtraFiles = extra
		if err := cmd.Start(); err != nil {
			return 0, nil, nil, err
		}
		return cmd.Process.Pid, nil, nil, nil
	}
	deny := f == FilterDeny
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, nil, os.NewSyscallError("socketpair", err)
	}
	ours, theirs := os.NewFile(uintptr(sp[0]), "shim"), os.NewFile(uintptr(sp[1]), "shim")
	defer ours.Close()
	mode := "notify"
	if deny {
		mode = "deny"
	}
	shimFd := strconv.Itoa(3 + len(extra))
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: append([]string{ShimName, mode, shimFd, prog}, args...),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, ExtraFiles: append(extra, theirs)}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		return 0, nil, nil, fmt.Errorf("start shim: %w", err)
	}
	filter := &image.Seccomp{Deny: deny}
	// The shim sends one message: "ok" with the listener, or the reason
	// it failed; then it execs or exits.
	buf, oob := make([]byte, 512), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(sp[0], buf, oob, 0)
	if err != nil || n == 0 {
		return cmd.Process.Pid, nil, nil, nil // the shim died before it got so far: its status tells
	}
	if string(buf[:n]) != "ok" {
		return cmd.Process.Pid, nil, nil, errors.New(string(buf[:n]))
	}
	for { // until the exec closes the shim's end
		if m, _, _, _, err := unix.Recvmsg(sp[0], make([]byte, 16), nil, 0); m == 0 || err != nil && err != unix.EINTR {
			break
		}
	}
	if deny {
		return cmd.Process.Pid, filter, nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err == nil && len(msgs) == 1 {
		if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
			return cmd.Process.Pid, filter, os.NewFile(uintptr(fds[0]), "seccomp listener"), nil
		}
	}
	return cmd.Process.Pid, nil, nil, fmt.Errorf("shim pid %d: sent no seccomp listener", cmd.Process.Pid)
}

// kept returns the ExtraFiles that give the job descriptors keep at
// their own numbers, and nothing at the numbers between.
func kept(keep []int) []*os.File {
	var extra []*os.File
	for _, fd := range keep {
		for len(extra) < fd-2 {
			extra = append(extra, nil)
		}
		extra[fd-3] = os.NewFile(uintptr(fd), "kept fd "+strconv.Itoa(fd))
	}
	return extra
}

// Shim is the shim's whole life: args are mode ("notify" or "deny"), the
// descriptor that leads to the agent, prog and its arguments. It never
// returns.
func Shim(args []string) {
	runtime.LockOSThread()
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "stasis-shim: run by cr_run, not by hand")
		os.Exit(127)
	}
	deny, prog := args[0] == "deny", args[2]
	agentFd, err := strconv.Atoi(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "stasis-shim: run by cr_run, not by hand")
		os.Exit(127)
	}
	tell := func(msg string) { unix.Sendmsg(agentFd, []byte(msg), nil, nil, 0) }
	path, err := exec.LookPath(prog)
	if err != nil {
		tell(err.Error())
		os.Exit(127)
	}
	listener, err := seccomp.Install(deny)
	if err != nil {
		tell("install the seccomp filter: " + err.Error())
		os.Exit(126)
	}
	var rights []byte
	if listener >= 0 {
		rights = unix.UnixRights(listener)
	}
	if err := unix.Sendmsg(agentFd, []byte("ok"), rights, nil, 0); err != nil {
		fmt.Fprintf(os.Stderr, "cr_run: hand the listener to the agent: %v\n", err)
		os.Exit(126)
	}
	if listener >= 0 {
		unix.Close(listener)
	}
	// agentFd closes at exec: the agent waits for that, so no signal
	// reaches us (a Go program that ignores SIGUSR1) instead of the program.
	unix.CloseOnExec(agentFd)
	err = syscall.Exec(path, args[2:], os.Environ())
	fmt.Fprintf(os.Stderr, "cr_run: %s: %v\n", prog, err)
	os.Exit(126)
}
