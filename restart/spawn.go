package restart

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
	"stasis/internal/ptrace"
	"stasis/internal/stub"
)

// restoreOptions trace the stub; EXITKILL so that a restore whose
// cr_restart dies leaves nothing half-built behind. What the stub and the
// processes made from it create is traced by CLONE_PTRACE (clone3), with
// these options, and without the event stop in its creator that
// PTRACE_O_TRACEFORK and PTRACE_O_TRACECLONE would add to each creation.
const restoreOptions = unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_EXITKILL

// startStub runs the restorer ELF from a memfd, traced, stopped at its
// exec. Its fds 0-2 are ours, and fd 3 the memfd.
//
// Precondition: called on the owner thread.
func startStub() (*os.Process, error) {
	fd, err := unix.MemfdCreate("stasis-restorer", 0)
	if err != nil {
		return nil, fmt.Errorf("restorer: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "stasis-restorer")
	defer f.Close()
	if _, err := f.Write(stub.ELF()); err != nil {
		return nil, fmt.Errorf("restorer: %w", err)
	}
	p, err := os.StartProcess("/proc/self/fd/3", []string{"stasis-restorer"}, &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr, f},
		Sys:   &unix.SysProcAttr{Ptrace: true},
	})
	if err != nil {
		return nil, fmt.Errorf("restorer: start: %w", err)
	}
	s, err := ptrace.Wait(p.Pid)
	if err == nil && s.Status.StopSignal() != unix.SIGTRAP {
		err = fmt.Errorf("restorer pid %d: %v at exec", p.Pid, s)
	}
	if err == nil {
		err = unix.PtraceSetOptions(p.Pid, restoreOptions)
	}
	if err != nil {
		p.Kill()
		kernel.Wait4(p.Pid, 0)
		return nil, fmt.Errorf("restorer: %w", err)
	}
	return p, nil
}

// cloneArgs is struct clone_args up to set_tid_size (CLONE_ARGS_SIZE_VER1).
type cloneArgs struct {
	Flags, Pidfd, ChildTid, ParentTid, ExitSignal, Stack, StackSize, TLS, SetTid, SetTidSize uint64
}

func (c *cloneArgs) bytes() []byte {
	v := []uint64{c.Flags, c.Pidfd, c.ChildTid, c.ParentTid, c.ExitSignal, c.Stack, c.StackSize, c.TLS, c.SetTid, c.SetTidSize}
	b := make([]byte, 8*len(v))
	for i, x := range v {
		le.PutUint64(b[8*i:], x)
	}
	return b
}

// clone3 runs clone3 in the tracee of r with the given flags and
// CLONE_PTRACE, asking for the id want (0: any), and returns the new task,
// traced by us as r's tracee is, once it sits in its first stop.
// args is scratch memory in the tracee, mem its memory.
//
// Precondition: called on the owner thread.
func clone3(r *ptrace.Remote, mem *ptrace.Mem, scratch uint64, flags, exitSignal uint64, want int) (int, error) {
	tid := make([]byte, 8)
	le.PutUint32(tid, uint32(want))
	ca := cloneArgs{Flags: flags | unix.CLONE_PTRACE, ExitSignal: exitSignal, SetTid: scratch + 128, SetTidSize: 1}
	if want == 0 {
		ca.SetTid, ca.SetTidSize = 0, 0
	}
	if err := mem.WriteAt(append(ca.bytes(), make([]byte, 128-80)...), scratch); err != nil {
		return 0, err
	}
	if err := mem.WriteAt(tid, scratch+128); err != nil {
		return 0, err
	}
	got, err := r.Syscall(unix.SYS_CLONE3, scratch, 80)
	if err != nil {
		if errno, ok := err.(*ptrace.Errno); ok && errno.Errno == unix.EEXIST {
			e := &PidInUseError{Pid: want}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", want)); os.IsNotExist(err) {
				e.Holder = "a process group or session that still bears its number (a member not yet reaped?)"
			}
			return 0, e
		}
		if errno, ok := err.(*ptrace.Errno); ok && errno.Errno == unix.EPERM && want != 0 {
			return 0, fmt.Errorf("clone3 for id %d: %w (choosing pids needs CAP_CHECKPOINT_RESTORE over the pid namespace: root, or cr_restart without --restore-pid=strict, which uses a new one)", want, err)
		}
		return 0, fmt.Errorf("clone3 for id %d: %w", want, err)
	}
	if want == 0 {
		want = int(got)
	}
	child := int(got)
	if child != want {
		return 0, fmt.Errorf("clone3 for id %d: got %d", want, got)
	}
	s, err := ptrace.Wait(child)
	if err != nil {
		return 0, err
	}
	if s.Status.StopSignal() != unix.SIGSTOP && s.Event() != unix.PTRACE_EVENT_STOP {
		return 0, fmt.Errorf("tid %d: %v at start", child, s)
	}
	return child, nil
}

// PidInUseError reports that an id the image needs is taken.
type PidInUseError struct {
	Pid    int
	Holder string // who holds it, where known
}

func (e *PidInUseError) Error() string {
	if e.Holder != "" {
		return fmt.Sprintf("pid %d is in use by %s", e.Pid, e.Holder)
	}
	return fmt.Sprintf("pid %d is in use by another process", e.Pid)
}
