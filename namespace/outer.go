package namespace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/control"
)

// envInit tells the re-executed cr_restart that it is the inner one, and
// what it needs to know: its stage (1, then 2 once it has moved its pids
// away from the image's), the outer cr_restart's pid and the number of
// the fd connections come through ("STAGE PARENT CONNS").
const envInit = "STASIS_NS_INIT"

// Spec says which namespaces to make.
type Spec struct {
	// User: a user namespace too (an ordinary user); root needs none.
	User bool
	// Keep are fds (cr_restart -F FD, --inherit-fd) the inner
	// cr_restart must have at the same numbers; those up to 2 it has.
	Keep []int
}

// Outer is the cr_restart that stays outside and relays.
type Outer struct {
	cmd   *exec.Cmd
	ln    *net.UnixListener
	conns *os.File // our end of the socket connections go through
	// NoSocket is why we have no control socket of our own (nil: we have).
	NoSocket error
}

// Start re-executes the running binary, with the same arguments, as pid 1
// of new namespaces, and listens on our own control socket for it.
func Start(spec Spec) (*Outer, error) {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	ours, theirs := os.NewFile(uintptr(sp[0]), "relay"), os.NewFile(uintptr(sp[1]), "relay")
	defer theirs.Close()
	// Without our socket the job still runs: NoSocket says why it is
	// reachable only through the inner agent's.
	ln, noSocket := control.Listen(os.Getpid())
	var extra []*os.File
	for _, k := range spec.Keep {
		if k <= 2 {
			continue
		}
		if len(extra) < k-2 {
			extra = append(extra, make([]*os.File, k-2-len(extra))...)
		}
		// A duplicate: an *os.File over the caller's own fd would close it
		// when collected.
		dup, err := unix.FcntlInt(uintptr(k), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			unix.Close(sp[0])
			return nil, fmt.Errorf("fd %d for the restart in new namespaces: %w", k, err)
		}
		extra[k-3] = os.NewFile(uintptr(dup), "kept fd "+strconv.Itoa(k))
		defer extra[k-3].Close()
	}
	extra = append(extra, theirs)
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = extra
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=1 %d %d", envInit, os.Getpid(), 2+len(extra)))
	attr := &unix.SysProcAttr{Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS, Pdeathsig: unix.SIGKILL}
	if spec.User {
		uid, gid := os.Getuid(), os.Getgid()
		attr.Cloneflags |= unix.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		attr.GidMappingsEnableSetgroups = false
		// The uid stays the user's, so exec would drop every capability
		// the new user namespace gave: keep them as ambient ones.
		attr.AmbientCaps = allCaps()
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		if ln != nil {
			ln.Close()
		}
		ours.Close()
		return nil, fmt.Errorf("new namespaces: %w%s", err, hint(spec, err))
	}
	return &Outer{cmd: cmd, ln: ln, conns: ours, NoSocket: noSocket}, nil
}

func hint(spec Spec, err error) string {
	if spec.User && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EACCES)) {
		return " (are unprivileged user namespaces disabled? see /proc/sys/user/max_user_namespaces and kernel.unprivileged_userns_clone; --no-restore-pid needs none)"
	}
	return ""
}

// allCaps lists every capability this kernel has.
func allCaps() []uintptr {
	last := 40
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	caps := make([]uintptr, 0, last+1)
	for c := 0; c <= last; c++ {
		caps = append(caps, uintptr(c))
	}
	return caps
}

// Pid is the inner cr_restart's pid (as we see it).
func (o *Outer) Pid() int { return o.cmd.Process.Pid }

// Run relays until the inner cr_restart exits, and returns how it ended:
// the signals from sigs go to it (SIGTSTP, SIGTTIN and SIGTTOU stop us
// too, as a shell expects), connections to our socket are passed to it.
func (o *Outer) Run(sigs <-chan os.Signal) unix.WaitStatus {
	go o.relay(o.ln)
	reported := make(chan unix.WaitStatus, 1)
	go o.listen(reported)
	done := make(chan unix.WaitStatus, 1)
	go func() {
		o.cmd.Wait()
		ws := unix.WaitStatus(o.cmd.ProcessState.Sys().(syscall.WaitStatus))
		select {
		case ws = <-reported: // how the job ended, which the inner one could not copy
		case <-time.After(100 * time.Millisecond):
		}
		done <- ws
	}()
	pid := o.cmd.Process.Pid
	for {
		select {
		case ws := <-done:
			o.ln.Close()
			o.conns.Close()
			return ws
		case s := <-sigs:
			sig := s.(unix.Signal)
			if sig == unix.SIGCHLD || sig == unix.SIGURG {
				continue
			}
			unix.Kill(pid, sig)
			switch sig {
			case unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
				unix.Kill(os.Getpid(), unix.SIGSTOP)
			}
		}
	}
}

// listen reads what the inner cr_restart tells us: its listening socket,
// on which we then accept, and how the job ended.
func (o *Outer) listen(reported chan<- unix.WaitStatus) {
	for {
		b, oob := make([]byte, 8), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := unix.Recvmsg(int(o.conns.Fd()), b, oob, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		switch {
		case b[0] == msgStatus && n == 5:
			reported <- unix.WaitStatus(binary.LittleEndian.Uint32(b[1:]))
		case b[0] == msgListener:
			f := PassedFd(oob[:oobn], "control socket")
			if f == nil {
				continue
			}
			l, err := net.FileListener(f)
			f.Close()
			if ul, ok := l.(*net.UnixListener); err == nil && ok {
				go o.relay(ul)
			}
		}
	}
}

// relay passes each connection made to ln to the inner agent, with the
// peer's uid as we see it.
func (o *Outer) relay(ln *net.UnixListener) {
	if ln == nil {
		return
	}
	for {
		c, err := ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		cred, err := control.PeerCred(c)
		f, err2 := c.File()
		c.Close()
		if err != nil || err2 != nil {
			if f != nil {
				f.Close()
			}
			continue
		}
		uid := make([]byte, 4)
		binary.LittleEndian.PutUint32(uid, cred.Uid)
		unix.Sendmsg(int(o.conns.Fd()), uid, unix.UnixRights(int(f.Fd())), nil, 0)
		f.Close()
	}
}

// PassedFd returns the one fd that the control message oob carries (as
// SCM_RIGHTS), or nil.
func PassedFd(oob []byte, name string) *os.File {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return nil
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil
	}
	return os.NewFile(uintptr(fds[0]), name)
}
