package checkpoint

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/compress"
	"stasis/internal/image"
	"stasis/internal/proc"
	"stasis/internal/ptrace"
	"stasis/internal/trace"
	"stasis/writer"
)

// Frozen is a process stopped for checkpointing. Write saves it; Release
// lets it go, with the signal the user asked for. Until Release the process
// stays frozen, so the image can be committed before anything it does is
// seen by the world.
type Frozen struct {
	opt    Options
	sysv   *sysvUse         // System V semaphores and queues it used last
	shared map[int]image.Fd // fds tied to other processes of its Set
	seen   map[int]openFd   // its fds as its Set read them (links), by number
	files  *mappedFiles     // the files of the image's processes
	zombie bool             // exited, not reaped: saved as its exit status
	owner  *ptrace.Owner
	pid    int
	stat   *proc.Stat
	status *proc.Status
	tasks  []*task
	snap   *snapshot // its copy-on-write snapshot, if it has one
	// snapErr says why it has none when one was asked for.
	snapErr error
	thawed  bool   // let go before its image was written (snapshot)
	guard   *guard // told of its snapshot
	dedup   *dedup // pages other processes of the image saved (nil: none)
}

// Options carry what the agent of a job knows about the process.
type Options struct {
	// Seccomp is the agent's filter, which the process is known to run
	// under; a process with any other filter is refused.
	Seccomp *image.Seccomp
	// AgentFds are, by pid, the fds that are libcr's connection to the
	// agent.
	AgentFds map[int]map[int]bool
	// Save says which mapped files the image carries (--save-*).
	Save SaveFiles
	// Images are files known to be stasis images (those the agent
	// restarted the job from), so that their mappings are recognised
	// after they were removed or replaced, without /proc/PID/map_files.
	Images []image.FileID
	// AgentAs, if not 0, is recorded as the parent of the processes whose
	// parent is the caller (the agent): the pid the job is known by,
	// which a restarted agent answers for again (package agent).
	AgentAs int
	// CutPipes saves a pipe whose other end is outside the set as widowed
	// (--cut-pipes), instead of refusing it.
	CutPipes bool
	// TCP says what becomes of a TCP connection to a peer outside the
	// set: refused (the default), saved to go on (--tcp-established), or
	// saved as one the peer reset (--tcp-close).
	TCP TCPOutside
	// KeepFilesBelow: the contents of each regular file a process holds
	// open that is smaller than this many bytes go into the image, so a
	// restart can make it again if it is gone (a compiler's temporary
	// file); 0 means DefaultKeepFilesBelow, a negative value none.
	KeepFilesBelow int64

	zombies bool // FreezeAll: a zombie whose parent is saved is saved too
}

// TCPOutside is what a checkpoint does with a TCP connection to a peer
// outside it.
type TCPOutside int

const (
	TCPRefuse      TCPOutside = iota // refused, naming the options below
	TCPEstablished                   // saved with TCP_REPAIR, to go on after the restart (root)
	TCPClose                         // saved as reset: the restarted process sees ECONNRESET
)

// DefaultKeepFilesBelow is Options.KeepFilesBelow's default: 1 MiB.
const DefaultKeepFilesBelow = 1 << 20

// keepBelow is KeepFilesBelow with its default applied: 0 keeps none.
func (o Options) keepBelow() int64 {
	switch {
	case o.KeepFilesBelow == 0:
		return DefaultKeepFilesBelow
	case o.KeepFilesBelow < 0:
		return 0
	}
	return o.KeepFilesBelow
}

// Freeze checks that pid can be checkpointed and stops all its threads.
func Freeze(owner *ptrace.Owner, pid int, opt Options) (*Frozen, error) {
	if st, err := proc.ReadStat(pid); err == nil && st.State == 'Z' && opt.zombies {
		return &Frozen{opt: opt, owner: owner, pid: pid, stat: st, zombie: true}, nil
	}
	st, status, err := check(pid)
	if err != nil {
		return nil, err
	}
	f := &Frozen{opt: opt, owner: owner, pid: pid, stat: st, status: status}
	err = owner.Do(func() error {
		var err error
		f.tasks, err = freeze(pid)
		return err
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Pid is the process being checkpointed.
func (f *Frozen) Pid() int { return f.pid }

// Write saves the process into dst as one image, in one forward pass.
func (f *Frozen) Write(dst io.Writer) error {
	return f.owner.Do(func() error {
		w, err := image.NewWriter(dst, image.ArchX86_64)
		if err != nil {
			return err
		}
		if err := f.write(w); err != nil {
			return err
		}
		return w.Close()
	})
}

// write adds the process to w: its record, its pages, its files' contents.
//
// Precondition: called on the owner thread.
func (f *Frozen) write(w *image.Writer) error {
	c, err := f.capture(w, false)
	if err != nil {
		return err
	}
	return c.emit(w, nil, f.dedup)
}

// capture reads everything of the frozen process but the pages it will
// still have after a fork (see captured), and writes into w the mapped
// files the image saves that it does not hold yet. With cow, it also has
// the process fork a snapshot to read those pages from once it runs on
// (f.snap, nil if the fork failed: f.snapErr says why).
//
// Precondition: called on the owner thread.
func (f *Frozen) capture(w *image.Writer, cow bool) (c *captured, err error) {
	pid := f.pid
	if f.zombie {
		st := f.stat
		z := &image.Process{Pid: pid, PPid: st.PPid, Pgid: st.Pgrp, Sid: st.Session, Comm: st.Comm,
			ExitSignal: st.ExitSignal, Zombie: true, ExitCode: st.ExitCode}
		if status, err := proc.ReadStatus(pid); err == nil {
			if err := nsPids(z, status); err != nil {
				return nil, err
			}
		}
		return &captured{p: z}, nil
	}
	var leader *task
	for _, t := range f.tasks {
		if t.tid == pid {
			leader = t
		}
	}
	if leader == nil {
		return nil, fmt.Errorf("pid %d: its main thread has exited: not supported", pid)
	}
	maps, flags, err := proc.ReadSmaps(pid)
	if err != nil {
		return nil, err
	}
	vs, err := vmas(pid, maps, flags, f.opt.Images)
	if err != nil {
		return nil, err
	}
	p := &image.Process{VMAs: vs}
	if f.sysv != nil {
		p.SysvSems, p.SysvMsgs = f.sysv.sems, f.sysv.msgs
	}
	if err := identity(pid, f.stat, f.status, f.opt.Seccomp, p); err != nil {
		return nil, err
	}
	if f.files == nil {
		f.files = newMappedFiles(f.opt.Save)
	}
	if err := f.files.record(pid, maps, vs, p, w); err != nil {
		return nil, err
	}
	var data []fileData
	if p.Fds, data, err = fds(pid, f.opt.AgentFds[pid], f.shared, f.seen, f.opt.keepBelow()); err != nil {
		return nil, err
	}
	mem, err := ptrace.OpenMem(pid, false)
	if err != nil {
		return nil, err
	}
	c = &captured{pid: pid, p: p, mem: mem, late: vs}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	a, err := newAsker(pid, maps, mem, leader, f.tasks)
	if err != nil {
		return nil, err
	}
	a.guard = f.guard
	if err := a.ask(p, f.tasks); err != nil {
		a.close()
		return nil, err
	}
	var skipped []int
	if c.files, skipped, err = readFileData(pid, data); err != nil {
		a.close()
		return nil, err
	}
	sums := map[int]string{} // of the files kept, by data index
	for _, fb := range c.files {
		sums[fb.idx] = fmt.Sprintf("%x", sha256.Sum256(fb.data))
	}
	for i := range p.Fds {
		f := &p.Fds[i]
		if slices.Contains(skipped, f.DataIdx) {
			f.DataIdx = 0
		}
		if f.State != nil && f.DataIdx > 0 {
			if sum, ok := sums[f.DataIdx]; ok {
				f.State.Sum = sum
			}
		}
	}
	if cow {
		if err := c.readEarly(vs, flags, f.dedup); err != nil {
			a.close()
			return nil, err
		}
		f.snap, f.snapErr = a.snapshot()
	}
	if err := a.close(); err != nil {
		return nil, err
	}
	// Put the registers back now, not at thaw: if we die while the pages
	// are written, the kernel lets the threads go as they were.
	if err := putBack(f.tasks); err != nil {
		return nil, err
	}
	if err := nsPids(p, f.status); err != nil {
		return nil, err
	}
	if f.opt.AgentAs != 0 && f.stat.PPid == os.Getpid() {
		p.PPid = f.opt.AgentAs
	}
	return c, nil
}

// ask collects everything that needs remote system calls.
//
// Precondition: called on the owner thread.
func (a *asker) ask(p *image.Process, tasks []*task) error {
	if err := a.mapScratch(); err != nil {
		return err
	}
	brk, err := a.call(a.leader, unix.SYS_BRK, 0)
	if err != nil {
		return fmt.Errorf("pid %d: brk: %w", a.pid, err)
	}
	p.MM.Brk = brk
	if p.Clocks, err = a.clocks(); err != nil {
		return err
	}
	if err := a.xcompPerm(p); err != nil {
		return err
	}
	bits, err := a.call(a.leader, unix.SYS_PRCTL, unix.PR_GET_SECUREBITS)
	if err != nil {
		return fmt.Errorf("pid %d: securebits: %w", a.pid, err)
	}
	p.Securebits = uint32(bits)
	for _, t := range tasks {
		th, err := a.threadState(t)
		if err != nil {
			return err
		}
		p.Threads = append(p.Threads, th)
	}
	return a.signals(p)
}

// Release sends sig (0: none) to the process while it is still frozen, so
// it does nothing after the checkpoint that the image does not know of,
// then lets every thread go. With SIGKILL it waits until the process is
// gone.
func (f *Frozen) Release(sig unix.Signal) error {
	var gone *ends
	if sig == unix.SIGKILL {
		gone = watchEnds([]int{f.pid})
	}
	if sig != 0 {
		if err := unix.Kill(f.pid, sig); err != nil {
			if gone != nil {
				gone.close()
			}
			f.owner.Do(func() error { return thaw(f.tasks) })
			return fmt.Errorf("pid %d: kill(%v): %w", f.pid, sig, err)
		}
	}
	if sig == unix.SIGKILL {
		err := f.owner.Do(func() error { return thawKilled(f.tasks, f.pid, 5*time.Second) })
		gone.wait(5 * time.Second)
		return err
	}
	return f.owner.Do(func() error { return thaw(f.tasks) })
}

// Dest is where an image goes.
type Dest struct {
	// Path and Policy: an image file, placed as the policy says.
	Path   string
	Policy writer.Options
	// Stream, if set, receives the image instead (cr_checkpoint -F): no
	// policy applies, and a failure may leave part of an image in it.
	Stream io.Writer
	// Deadline, if set, abandons a checkpoint not done by then (-t).
	Deadline time.Time
	// Compress is "none" (or ""), "lz4" or "zstd".
	Compress string
	// Progress, if set, is told how much memory the frozen processes hold
	// and then of every byte of image written.
	Progress Progress
	// Note, if set, is told what a user may want to know (-v): why a
	// checkpoint that lets the processes run on kept them frozen, say.
	Note func(string)
}

// Progress follows a checkpoint as it is written.
type Progress interface {
	Start(resident int64, pids []int)
	Add(n int)
	Done()
}

// progressWriter tells p of every byte written to w.
type progressWriter struct {
	w io.Writer
	p Progress
}

func (pw progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.p.Add(n)
	return n, err
}

// ErrTimeout: the checkpoint was abandoned at its deadline.
var ErrTimeout = errors.New("the checkpoint took longer than allowed (-t): abandoned, the processes run on")

// Save checkpoints the processes that resolve names (see FreezeAll) into
// dest, and then releases them with sig. On any failure the processes run
// on untouched and no file is left behind.
func Save(owner *ptrace.Owner, resolve func() ([]int, error), dest Dest, sig unix.Signal, opt Options) (err error) {
	if late(dest.Deadline) {
		return ErrTimeout
	}
	// A job that runs on is let go as soon as every process has a
	// copy-on-write snapshot; one that gets a signal stays frozen until
	// the image is committed, so it does nothing the image does not know.
	cow := sig == 0
	var g *guard
	if cow {
		// Started before the freeze, which it would only lengthen.
		if g, err = startGuard(); err != nil && dest.Note != nil {
			dest.Note(fmt.Sprintf("%v: a snapshot may outlive a cr_checkpoint killed midway, as a zombie", err))
		}
	}
	set, err := FreezeAll(owner, g.outside(resolve), opt)
	if err != nil {
		g.stop()
		return err
	}
	trace.Mark("checkpoint: %d processes frozen", len(set.procs))
	set.cow, set.note, set.guard = cow, dest.Note, g
	var out io.Writer = dest.Stream
	var file *writer.File
	if out == nil {
		if file, err = writer.Create(dest.Path, dest.Policy); err != nil {
			return errors.Join(err, set.Release(0))
		}
		out = file
	}
	if dest.Progress != nil {
		dest.Progress.Start(set.Resident(), set.Pids())
		defer dest.Progress.Done()
		out = progressWriter{out, dest.Progress}
	}
	if !dest.Deadline.IsZero() {
		out = &deadlineWriter{w: out, at: dest.Deadline}
	}
	z, err := compress.Writer(dest.Compress, out)
	if err == nil {
		err = set.Write(z)
		if cerr := z.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil && late(dest.Deadline) {
		err = ErrTimeout
	}
	if err != nil {
		if file != nil {
			file.Abort()
		}
		return errors.Join(err, set.Release(0))
	}
	trace.Mark("checkpoint: image written")
	if file != nil {
		if err := file.Commit(); err != nil {
			return errors.Join(err, set.Release(0))
		}
		trace.Mark("checkpoint: image committed")
	}
	defer trace.Mark("checkpoint: processes released")
	return set.Release(sig)
}

func late(at time.Time) bool { return !at.IsZero() && time.Now().After(at) }

// deadlineWriter fails every write once its deadline has passed.
type deadlineWriter struct {
	w  io.Writer
	at time.Time
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	if late(d.at) {
		return 0, ErrTimeout
	}
	return d.w.Write(b)
}
