package restart

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Letting the processes of a restore go is one detach after another, and
// a cr_restart killed between two would leave those let go running
// without the others, which PTRACE_O_EXITKILL kills with it. So where
// there are several, a guard watches the release: a copy of cr_restart
// (GuardEnv set) started just before it, holding a pidfd of every process
// and the read end of a pipe whose write end only cr_restart holds. Once
// every process is let go cr_restart writes to the pipe and the guard
// exits; if cr_restart dies first the guard reads the end of the pipe and
// kills every process. A single process needs none: a thread killed by
// EXITKILL takes its whole process with it.

// GuardEnv, in a command's environment, says that it is a restore's guard
// of that many processes (Guard).
const GuardEnv = "STASIS_RESTART_GUARD"

// guard is a running guard: the write end of its pipe, and the read end
// of the one it says it is ready on.
type guard struct{ w, ready *os.File }

// startGuard starts the guard of the processes pids.
func startGuard(pids []int) (*guard, error) {
	files := []*os.File{nil, nil, os.Stderr}
	defer func() {
		for _, f := range files[3:] {
			f.Close()
		}
	}()
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			return nil, fmt.Errorf("release guard: pid %d: %w", pid, os.NewSyscallError("pidfd_open", err))
		}
		files = append(files, os.NewFile(uintptr(fd), "pidfd"))
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("release guard: %w", err)
	}
	defer r.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("release guard: %w", err)
	}
	defer readyW.Close()
	files[0], files[1] = r, readyW
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	p, err := os.StartProcess(exe, []string{"cr_restart", "(release guard)"}, &os.ProcAttr{
		Env:   []string{GuardEnv + "=" + strconv.Itoa(len(pids))},
		Files: files,
	})
	if err != nil {
		w.Close()
		ready.Close()
		return nil, fmt.Errorf("release guard: %w", err)
	}
	p.Release() // it exits once the release is over; the agent reaps it
	return &guard{w, ready}, nil
}

// wait returns once the guard watches: it has started and reads its pipe.
func (g *guard) wait() error {
	if g == nil {
		return nil
	}
	var b [1]byte
	_, err := g.ready.Read(b[:])
	g.ready.Close()
	if err != nil {
		return fmt.Errorf("release guard: it did not start: %w", err)
	}
	return nil
}

// done tells the guard that every process is let go, and lets it exit.
func (g *guard) done() {
	if g != nil {
		g.w.Write([]byte{'c'})
		g.w.Close()
	}
}

// abandon lets the guard kill every process (a failed restore kills
// them itself too).
func (g *guard) abandon() {
	if g != nil {
		g.w.Close()
		g.ready.Close()
	}
}

// Guard is the guard's whole life (see startGuard): it never returns.
// Its standard input is the pipe, its standard output the one it says it
// is ready on, fds 3 on its pidfds.
func Guard(n string) {
	count, err := strconv.Atoi(n)
	if err != nil || count < 0 {
		fmt.Fprintf(os.Stderr, "cr_restart: release guard: %s=%q: not a count\n", GuardEnv, n)
		os.Exit(1)
	}
	var b [1]byte
	unix.Write(1, []byte{'r'})
	unix.Close(1)
	for {
		got, err := unix.Read(0, b[:])
		if err == unix.EINTR {
			continue
		}
		if got == 1 && b[0] == 'c' {
			os.Exit(0)
		}
		break // the end of the pipe: cr_restart died before the release was over
	}
	for fd := 3; fd < 3+count; fd++ {
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	}
	os.Exit(0)
}
