package restart

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/proc"
	"stasis/internal/ptrace"
	"stasis/internal/stub"
)

// Options say how to restart.
type Options struct {
	// Signal is sent to the restored process before it runs (0: none).
	Signal unix.Signal
}

// builder holds the process being rebuilt.
type builder struct {
	p       *image.Process
	pid     int
	mem     *ptrace.Mem
	gate    uint64
	scratch uint64
	threads []*rthread // the leader first
	stdio   [3]uint64
	data    map[uint64]*dataFile
	buf     []byte
	out     Restored
}

func (b *builder) call(nr uint64, args ...uint64) (uint64, error) {
	return b.threads[0].r.Syscall(nr, args...)
}

func (b *builder) callIn(tid int, nr uint64, args ...uint64) (uint64, error) {
	for _, t := range b.threads {
		if t.tid == tid {
			return t.r.Syscall(nr, args...)
		}
	}
	return 0, fmt.Errorf("tid %d: not a thread of pid %d", tid, b.pid)
}

func (b *builder) setGate(h uint64) {
	b.gate, b.scratch = h, h+pageSize
	for _, t := range b.threads {
		t.r.Gate = h
	}
}

// Restore rebuilds the process of the image read from r, as a child of the
// calling process, and lets it run.
func Restore(owner *ptrace.Owner, r io.Reader, opt Options) (*Restored, error) {
	var out *Restored
	err := owner.Do(func() error {
		var err error
		out, err = restore(r, opt)
		return err
	})
	return out, err
}

// Precondition: called on the owner thread.
func restore(r io.Reader, opt Options) (*Restored, error) {
	ir, _, err := image.NewReader(r)
	if err != nil {
		return nil, err
	}
	rec, err := ir.Next()
	if err != nil {
		return nil, err
	}
	if rec.Type != image.RecProcess {
		return nil, fmt.Errorf("image: first record is of type %d, not a process: image damaged", rec.Type)
	}
	p, err := ir.Process()
	if err != nil {
		return nil, err
	}
	if err := precheck(p); err != nil {
		return nil, err
	}
	if err := waitPidFree(p.Pid); err != nil {
		return nil, err
	}
	pid, err := spawn(p.Pid)
	if err != nil {
		return nil, err
	}
	b := &builder{p: p, pid: pid, buf: make([]byte, 4<<20)}
	if err := b.build(ir, opt); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		kernel.Wait4(pid, 0)
		b.closeData()
		b.out.Close()
		return nil, err
	}
	b.out.Pid = pid
	return &b.out, nil
}

// precheck finds problems before anything is built: a damaged process
// record, files that vanished or changed.
func precheck(p *image.Process) error {
	if p.Pid <= 0 || len(p.Threads) == 0 || len(p.Threads) > 1<<16 {
		return fmt.Errorf("image: process record with pid %d and %d threads: image damaged", p.Pid, len(p.Threads))
	}
	leader := false
	for _, t := range p.Threads {
		leader = leader || t.Tid == p.Pid
	}
	if !leader {
		return fmt.Errorf("image: pid %d has no main thread: image damaged", p.Pid)
	}
	for _, v := range p.VMAs {
		if v.Kind != image.VMAFile {
			continue
		}
		st, err := os.Stat(v.Path)
		if err != nil {
			return fmt.Errorf("pid %d: mapped file %s: %w", p.Pid, v.Path, errors.Unwrap(err))
		}
		if st.Size() != v.FileSize {
			return fmt.Errorf("pid %d: mapped file %s: size %d, was %d at checkpoint: the file changed", p.Pid, v.Path, st.Size(), v.FileSize)
		}
	}
	for _, f := range p.Fds {
		if f.Kind != image.FdFile {
			continue
		}
		if _, err := os.Stat(f.Path); err != nil {
			return fmt.Errorf("pid %d fd %d: %s: %w", p.Pid, f.Num, f.Path, errors.Unwrap(err))
		}
	}
	return nil
}

// waitPidFree waits briefly for a pid held by a dying or zombie process
// (the checkpointed original, not yet reaped), and fails if it is in use.
func waitPidFree(pid int) error {
	for end := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := proc.ReadStat(pid)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err == nil && st.State != 'Z' && st.State != 'X' || time.Now().After(end) {
			e := &PidInUseError{Pid: pid}
			if err == nil && st.State == 'Z' {
				e.Holder = fmt.Sprintf("a zombie (%s) that its parent, pid %d, has not reaped", st.Comm, st.PPid)
			}
			return e
		}
	}
}

// spawn creates the process that becomes the restored one: the stub clones
// it with the image's pid and our process as its parent, then goes away.
//
// Precondition: called on the owner thread.
func spawn(want int) (int, error) {
	s, err := startStub()
	if err != nil {
		return 0, err
	}
	defer func() {
		s.Kill()
		kernel.Wait4(s.Pid, 0)
	}()
	regs, err := kernel.GetRegs(s.Pid)
	if err != nil {
		return 0, fmt.Errorf("restorer pid %d: %w", s.Pid, err)
	}
	mem, err := ptrace.OpenMem(s.Pid, true)
	if err != nil {
		return 0, err
	}
	defer mem.Close()
	r := &ptrace.Remote{Tid: s.Pid, Gate: stub.Gate, Base: regs}
	scratch := (regs.Rsp - 4096) &^ 0xf // the stub's own stack: nothing lives there
	return clone3(r, mem, scratch, unix.CLONE_PARENT, want)
}

// build turns the freshly cloned stub copy into the image's process.
//
// Precondition: called on the owner thread.
func (b *builder) build(ir *image.Reader, opt Options) error {
	var leader *image.Thread
	for i := range b.p.Threads {
		if b.p.Threads[i].Tid == b.pid {
			leader = &b.p.Threads[i]
		}
	}
	t, err := newRthread(b.pid, stub.Gate, leader)
	if err != nil {
		return err
	}
	b.threads = []*rthread{t}
	if b.mem, err = ptrace.OpenMem(b.pid, true); err != nil {
		return err
	}
	defer b.mem.Close()
	steps := []func() error{b.clearLayout, b.mapVMAs, b.setMM, b.prepareFds,
		func() error { return b.readRecords(ir) }, b.fixProt, b.rebuildFds, b.processState, b.cloneThreads}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	b.closeData()
	for _, t := range b.threads {
		if err := b.threadState(t); err != nil {
			return err
		}
	}
	for _, s := range b.p.SharedPending {
		if err := b.queueSignal(b.pid, s, true); err != nil {
			return err
		}
	}
	for _, t := range b.threads {
		if err := b.creds(t); err != nil {
			return err
		}
	}
	if err := b.confine(); err != nil {
		return err
	}
	if _, err := b.call(unix.SYS_MUNMAP, b.gate, gateSize); err != nil {
		return fmt.Errorf("pid %d: unmap restorer: %w", b.pid, err)
	}
	return b.release(opt.Signal)
}

// readRecords fills memory and file contents from the rest of the image.
func (b *builder) readRecords(ir *image.Reader) error {
	for {
		rec, err := ir.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch rec.Type {
		case image.RecPages:
			if err := b.fillPages(rec, ir); err != nil {
				return err
			}
		case image.RecFileData:
			d := b.data[rec.Arg]
			if d == nil {
				return fmt.Errorf("image: file data %d belongs to no fd: image damaged", rec.Arg)
			}
			if _, err := io.Copy(d.f, ir); err != nil {
				return fmt.Errorf("pid %d: file contents %d: %w", b.pid, rec.Arg, err)
			}
			d.filled = true
		case image.RecProcess:
			return fmt.Errorf("image holds several processes: restarting process trees is not supported yet")
		default:
			return fmt.Errorf("image: record type %d: not understood", rec.Type)
		}
	}
}
