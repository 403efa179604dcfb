package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
	"stasis/internal/proc"
	"stasis/internal/ptrace"
)

// A snapshot is a copy-on-write copy of a frozen process's memory: a child
// the process was made to fork, which we trace and keep stopped, so the
// process can run on while its pages are read from the copy.
//
// The child is invisible to the process: it is forked with exit signal 0
// (no SIGCHLD; a "clone" child, which wait(-1) and waitpid(-1) without
// __WALL or __WCLONE never report), it is killed by the kernel if we die
// (PTRACE_O_EXITKILL), and end has the process reap it.
type snapshot struct {
	pid    int         // the child
	parent int         // the process it copies
	mem    *ptrace.Mem // the child's memory, for mappings without PROT_READ
}

// snapshotCode is the page the fork is run from where the vDSO has no
// room for the rescue code: the syscall instruction that the frozen
// thread runs under our control, then exit_group(0), which only the child
// could ever reach: should we die before it stops for us, it exits at
// once instead of running a second copy of the program. (The rescue code
// does the same.)
var snapshotCode = []byte{
	0x0f, 0x05, // syscall
	0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax, 231 (exit_group)
	0x31, 0xff, // xor edi, edi
	0x0f, 0x05, // syscall
	0xeb, 0xfe, // jmp .
}

// snapshot has the frozen process fork a snapshot of itself.
//
// Precondition: called on the owner thread.
func (a *asker) snapshot() (s *snapshot, err error) {
	if err := a.endChain(); err != nil {
		return nil, err
	}
	r := a.remote(a.leader)
	if a.rescue == nil {
		code, err := a.call(a.leader, unix.SYS_MMAP, 0, pageSize, unix.PROT_READ|unix.PROT_EXEC,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
		if err != nil {
			return nil, err
		}
		defer func() {
			if _, uerr := a.call(a.leader, unix.SYS_MUNMAP, code, pageSize); uerr != nil && err == nil {
				s.end(a.leader)
				a.guard.remove(s.pid)
				s, err = nil, uerr
			}
		}()
		mem, err := ptrace.OpenMem(a.pid, true)
		if err != nil {
			return nil, err
		}
		err = mem.WriteAt(snapshotCode, code)
		mem.Close()
		if err != nil {
			return nil, err
		}
		r.Gate = code
	}
	tid := a.leader.tid
	if err := unix.PtraceSetOptions(tid, ptrace.SeizeOptions|unix.PTRACE_O_TRACECLONE); err != nil {
		return nil, fmt.Errorf("tid %d: ptrace(PTRACE_SETOPTIONS): %w", tid, err)
	}
	child := 0
	r.OnEvent = func(ev, id int) {
		if ev == unix.PTRACE_EVENT_CLONE {
			child = id
			a.guard.add(a.pid, id) // before anything can fail
		}
	}
	// clone(CLONE_FILES): a new process, exit signal 0, on the same
	// stack. It shares the fd table rather than holding a copy of every
	// fd, which would keep pipes open and flock locks held after the
	// process closes them.
	at := uint64(0)
	if a.rescue != nil {
		at = a.rescue.At()
	}
	a.guard.cloning(a.pid, tid, at)
	_, cerr := r.Syscall(unix.SYS_CLONE, unix.CLONE_FILES, 0, 0, 0, 0)
	a.leader.touched = true
	if err := unix.PtraceSetOptions(tid, ptrace.SeizeOptions); err != nil && cerr == nil {
		cerr = fmt.Errorf("tid %d: ptrace(PTRACE_SETOPTIONS): %w", tid, err)
	}
	if child == 0 {
		if cerr == nil {
			cerr = errors.New("no clone event")
		}
		return nil, fmt.Errorf("pid %d: fork of a snapshot: %w", a.pid, cerr)
	}
	s = &snapshot{pid: child, parent: a.pid}
	if cerr == nil {
		cerr = s.hold()
	}
	if cerr != nil {
		err := errors.Join(fmt.Errorf("pid %d: snapshot pid %d: %w", a.pid, child, cerr), s.end(a.leader))
		a.guard.remove(child)
		return nil, err
	}
	return s, nil
}

// hold waits for the new snapshot's first stop and has the kernel kill it
// if we die.
//
// Precondition: called on the owner thread.
func (s *snapshot) hold() error {
	if _, err := ptrace.Wait(s.pid); err != nil {
		return err
	}
	if err := unix.PtraceSetOptions(s.pid, ptrace.SeizeOptions|unix.PTRACE_O_EXITKILL); err != nil {
		return fmt.Errorf("ptrace(PTRACE_SETOPTIONS): %w", err)
	}
	var err error
	s.mem, err = ptrace.OpenMem(s.pid, false)
	return err
}

// end kills the snapshot and has its parent reap it, so that nothing of it
// is left. frozen is the parent's main thread if it is still frozen;
// if nil, the parent runs, and its main thread is stopped for as long as
// the one wait4 takes.
//
// Precondition: called on the owner thread.
func (s *snapshot) end(frozen *task) error {
	if s == nil {
		return nil
	}
	if s.mem != nil {
		s.mem.Close()
	}
	if err := unix.Kill(s.pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("snapshot pid %d: kill: %w", s.pid, err)
	}
	// Reap it as its tracer (if we are: not in a guard): it then waits
	// for its parent as a zombie.
	for {
		_, err := ptrace.Wait(s.pid)
		var gone *ptrace.ErrGone
		if errors.As(err, &gone) || errors.Is(err, unix.ECHILD) {
			break
		}
		if err != nil {
			return fmt.Errorf("snapshot pid %d: %w", s.pid, err)
		}
	}
	if !s.dead() {
		return fmt.Errorf("snapshot pid %d of pid %d: still not dead 5s after SIGKILL", s.pid, s.parent)
	}
	t, tasks := frozen, []*task{frozen}
	if t == nil {
		var err error
		tasks, err = s.stopAll()
		if errors.Is(err, unix.ESRCH) {
			return nil // the parent is gone: its reaper reaps the child
		}
		if err != nil {
			return fmt.Errorf("pid %d: to reap its snapshot pid %d: %w", s.parent, s.pid, err)
		}
		defer thaw(tasks)
		t = tasks[0]
	}
	err := s.reapIn(t, tasks)
	if perr := putBack(tasks); err == nil {
		err = perr
	}
	return err
}

// stopAll stops every live thread of the snapshot's parent, the main one
// first if it lives: any thread of a process may reap the process's
// children, and the main thread may have ended (pthread_exit) while the
// pages were read. All are stopped, not one, because the rescue code is
// written only with every thread settled (see ptrace.Rescue.Settle).
//
// Precondition: called on the owner thread.
func (s *snapshot) stopAll() ([]*task, error) {
	tids, err := proc.Tasks(s.parent)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, unix.ESRCH
		}
		return nil, err
	}
	if i := slices.Index(tids, s.parent); i > 0 {
		tids[0], tids[i] = tids[i], tids[0]
	}
	var tasks []*task
	var first error
	for _, tid := range tids {
		if err := ptrace.Freeze(tid); err != nil {
			if first == nil {
				first = err
			}
			continue // ended meanwhile, or the main thread, ended
		}
		t := &task{tid: tid}
		if t.regs, err = kernel.GetRegs(tid); err == nil {
			t.sigmask, err = kernel.GetSigmask(tid)
		}
		tasks = append(tasks, t)
		if err != nil {
			thaw(tasks)
			return nil, fmt.Errorf("pid %d tid %d: %w", s.parent, tid, err)
		}
	}
	if len(tasks) == 0 {
		return nil, first
	}
	return tasks, nil
}

// reapIn has the stopped thread t of the snapshot's parent reap it;
// tasks are the parent's stopped threads, t among them.
//
// Precondition: called on the owner thread.
func (s *snapshot) reapIn(t *task, tasks []*task) error {
	// Through the thread's own /proc entry: the process's fails once its
	// main thread has ended.
	maps, err := proc.ReadMaps(t.tid)
	if err != nil {
		return err
	}
	mem, err := ptrace.OpenMem(t.tid, false)
	if err != nil {
		return err
	}
	defer mem.Close()
	a, err := newAsker(t.tid, maps, mem, t, tasks)
	if err != nil {
		return err
	}
	defer a.close()
	got, err := a.call(t, unix.SYS_WAIT4, uint64(s.pid), 0, unix.WNOHANG|unix.WALL, 0)
	switch {
	case errors.Is(err, unix.ECHILD):
		return nil // it reaped it itself (a wait with __WALL)
	case err != nil:
		return fmt.Errorf("pid %d: reap its snapshot pid %d: %w", s.parent, s.pid, err)
	case got != uint64(s.pid):
		return fmt.Errorf("pid %d: its snapshot pid %d was not reaped (wait4 returned %d)", s.parent, s.pid, got)
	}
	return nil
}

// dead waits until the snapshot is a zombie (or gone), up to 5 s.
func (s *snapshot) dead() bool {
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		st, err := proc.ReadStat(s.pid)
		if err != nil || st.State == 'Z' || st.State == 'X' || st.PPid != s.parent {
			return true
		}
	}
	return false
}
