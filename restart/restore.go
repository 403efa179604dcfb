package restart

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/proc"
	"stasis/internal/ptrace"
	"stasis/internal/stub"
	"stasis/internal/trace"
)

// Options say how to restart.
type Options struct {
	// Signal is sent to the restored processes before they run (0: none).
	Signal unix.Signal
	// RestorePgid and RestoreSid put the image's top processes back into
	// their own process groups and sessions (BLCR's --restore-pgid and
	// --restore-sid) instead of cr_restart's.
	RestorePgid, RestoreSid bool
	// Pids says which pids the processes get.
	Pids PidMode
	// Relocate moves the image's files (--relocate); the first that
	// matches a path wins.
	Relocate []Relocation
	// FromFile says that the image is a regular file, given by its path:
	// its page data is mapped from it (lazy restart), or with NoLazy read
	// in place (see lazy.go). Otherwise, as for a stream, it is copied.
	FromFile, NoLazy bool
	// Unverified maps page data without checking its checksums first
	// (verify.go): a damaged page reaches the program.
	Unverified bool
	// Changed says what a regular file the image holds open that changed
	// since the checkpoint does to the restart (changed.go).
	Changed ChangedFiles
	// Inherit gives cr_restart's own descriptors in place of ends the
	// checkpoint cut (outside.go).
	Inherit []Inherit
	// TCPClose restores the TCP connections to peers outside that the
	// checkpoint saved to go on (--tcp-established) as reset ones, as
	// if saved with --tcp-close (tcpreset.go).
	TCPClose bool
	// BeforeRelease, if set, runs once every process is rebuilt, before
	// the first is let go: what must be ready before they run (the
	// agent's signal catching) is waited for there.
	BeforeRelease func()
}

// builder holds the process being rebuilt.
type builder struct {
	p        *image.Process
	pid      int
	mem      *ptrace.Mem
	gate     uint64
	scratch  uint64
	threads  []*rthread // the leader first
	stdio    [3]uint64
	data     map[uint64]*dataFile
	out      *Restored
	ids      *ids    // the image's groups and sessions, shared by all builders
	shared   *shared // pipes between the processes
	top      int     // above every fd number of the image
	forked   bool    // made by fork from its restored parent, not by the stub
	ctty     bool    // given its controlling terminal, a pty of the image, again (pty.go)
	opt      Options
	attached map[uint64]bool  // System V segments attached, by address
	pids     pidMap           // the image's pids and tids to the restored ones, shared by all builders
	peers    map[int]*builder // the processes rebuilt so far, by image pid (for RecSame)
	img      *imageFile       // the image file, when pages are taken from it in place
	imgFd    uint64           // the image's fd in the process, plus one (0: none)
	imgHigh  uint64           // a copy of it above top, kept until finish for children to inherit (0: none)
	mapped   int              // pages records mapped from the image
	maps     []call           // mappings of the image waiting to be made, in one batch
	vmas     *image.VMAIndex  // the image's mappings by address, from mapVMAs on
	// The calls waiting for the next flush (later), the data they
	// point at, and what went wrong queueing them.
	pass      *os.File // our end of receiveFd's socket pair (nil: none)
	passFd    uint64   // its other end, in the process
	queue     []queued
	queueData []byte
	queueErr  error
	batchAt   uint64       // the gate whose page holds batchCode (0: none yet)
	parent    *builder     // the restored process it is forked from (nil: made from the stub)
	kept      map[int]bool // fds of the image that a forked child inherited as they are (keptFds)
}

// call runs a system call in the main thread at once, after the calls
// queued (later).
//
// Joining it to the queue's batch as its last entry (one stop instead of
// two) broke TestTCPPair's restarts of a restored TCP pair
// (TCP_REPAIR_WINDOW: EINVAL at the second or third generation, not
// understood yet), so it runs by itself.
//
// Precondition: called on the owner thread.
func (b *builder) call(nr uint64, args ...uint64) (uint64, error) {
	if err := b.flush(); err != nil {
		return 0, err
	}
	return b.threads[0].r.Syscall(nr, args...)
}

// callIn runs a system call in thread tid at once, after the calls queued.
//
// Precondition: called on the owner thread.
func (b *builder) callIn(tid int, nr uint64, args ...uint64) (uint64, error) {
	if err := b.flush(); err != nil {
		return 0, err
	}
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
		t.r.Gate, t.r.Trap = h, true
	}
}

// Restore rebuilds the process of the image read from r, as a child of the
// calling process, and lets it run.
func Restore(owner *ptrace.Owner, r io.Reader, opt Options) (*Restored, error) {
	defer quietStops()()
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
	trace.Mark("on the owner thread")
	ir, hd, img, err := readerFor(r, opt)
	if err != nil {
		return nil, err
	}
	trace.Mark("image opened")
	if hd.Flags&image.FlagPart != 0 {
		return nil, errPart
	}
	return restoreFrom(ir, img, opt)
}

// restoreFrom rebuilds the processes whose records ir reads; img, when
// not nil, is the image file their pages may be taken from in place.
//
// Precondition: called on the owner thread.
func restoreFrom(ir *image.Reader, img *imageFile, opt Options) (*Restored, error) {
	defer img.wait()
	out := &Restored{}
	if img != nil && img.lazy {
		id, err := image.FileIDOf(img.f)
		if err != nil {
			return nil, err
		}
		out.Images = append(out.Images, id)
	}
	var bs []*builder
	sh := &shared{pipes: map[uint64]*[2]*os.File{}, shm: map[string]*os.File{},
		socks: map[uint64]*os.File{}, shut: map[uint64]int{}, sysv: map[int]*image.SysvShm{}, ipc: map[string]bool{}, saved: savedFiles{}, used: map[string]bool{}, ptys: map[uint64]*madePty{}, mq: map[string]bool{}}
	defer sh.close() // the processes hold their own ends
	rec, err := sh.saved.nextProcess(ir)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("image: no process in it: image damaged")
	}

	fail := func(err error) (*Restored, error) {
		for _, b := range bs {
			unix.Kill(b.pid, unix.SIGKILL)
		}
		for i := len(bs) - 1; i >= 0; i-- {
			kernel.Wait4(bs[i].pid, 0) // children first: their parents reap nothing now
			bs[i].closeData()
			if bs[i].mem != nil {
				bs[i].mem.Close()
			}
		}
		out.Close()
		sh.unmake()
		return nil, err
	}
	// Phase one, in image order (parents first): create each process, from
	// its restored parent or as our child, and rebuild all but what would
	// pass on to children forked from it.
	byPid := map[int]*builder{}
	m := &ids{pgid: map[int]int{}, sid: map[int]int{}}
	pm := pidMap{}
	var tns *timeNS                // the processes' time namespace (nil: ours)
	filesSeen := map[string]bool{} // files an earlier process's check found as expected
	for rec != nil {
		p, err := ir.Process()
		if err != nil {
			return fail(err)
		}
		relocate(p, opt.Relocate)
		if byPid[p.Pid] != nil {
			return fail(fmt.Errorf("image: pid %d appears twice: image damaged", p.Pid))
		}
		if p.Zombie {
			if err := zombie(byPid[p.PPid], p); err != nil {
				return fail(err)
			}
			if rec, err = sh.saved.nextProcess(ir); err != nil {
				return fail(err)
			}
			continue
		}
		if err := precheck(p, sh.saved, opt.Changed, filesSeen); err != nil {
			return fail(err)
		}
		if err := sh.sysvIPC(p); err != nil {
			return fail(fmt.Errorf("pid %d: %w", p.Pid, err))
		}
		if len(bs) == 0 {
			if tns, err = timeNamespace(p.Clocks, out); err != nil {
				return fail(err)
			}
		}
		if err := waitPidFree(p.Pid, opt.Pids); err != nil {
			return fail(err)
		}
		trace.Mark("pid %d: checked", p.Pid)
		b := &builder{p: p, out: out, ids: m, shared: sh, opt: opt, pids: pm, peers: byPid, img: img}
		gate := uint64(stub.Gate)
		parent := byPid[p.PPid]
		if parent != nil {
			b.pid, err = parent.fork(p)
			gate, b.forked, b.parent = parent.gate, true, parent
			b.kept = keptFds(parent.p, p)
		} else if b.pid, err = spawn(b.want(p.Pid), tns); err == nil {
			trace.Mark("pid %d: spawned", b.pid)
			if len(out.Pids) == 0 {
				out.Parent = p.PPid
			}
			out.Pids = append(out.Pids, b.pid)
		}
		if err != nil {
			if b.pid > 0 {
				bs = append(bs, b)
			}
			return fail(err)
		}
		bs = append(bs, b)
		trace.Mark("pid %d: created", b.pid)
		byPid[p.Pid], pm[p.Pid] = b, b.pid
		if rec, err = b.build(ir, gate); err != nil {
			return fail(err)
		}
	}
	// The guard of the release (guard.go) starts while the rest is done.
	var g *guard
	if len(bs) > 1 {
		pids := make([]int, len(bs))
		for i, b := range bs {
			pids[i] = b.pid
		}
		var err error
		if g, err = startGuard(pids); err != nil {
			return fail(err)
		}
		defer g.abandon() // after done, nothing more
	}
	// Every process has its fds now: the socket queues may pass any of
	// them, and name any as their sender.
	if err := sh.fillQueues(byPid); err != nil {
		return fail(err)
	}
	if err := connectDgrams(bs, sh); err != nil {
		return fail(err)
	}
	if err := errors.Join(sh.shutdown(), sh.leaveRepair(), sh.removeSysv(), img.wait()); err != nil {
		return fail(err)
	}
	trace.Mark("queues, datagrams, shutdown, repair, sysv, image wait")
	// Phase two, children first: what a fork would have passed on.
	for i := len(bs) - 1; i >= 0; i-- {
		if err := bs[i].finish(); err != nil {
			return fail(err)
		}
	}
	trace.Mark("finished %d processes", len(bs))
	if err := unusedInherit(opt, sh.used, sh.cut); err != nil {
		return fail(err)
	}
	if opt.BeforeRelease != nil {
		opt.BeforeRelease()
	}
	// Every process made ready first, then all let go in one short loop,
	// watched by a guard where there are several (guard.go): a cr_restart
	// killed before the loop takes every process with it
	// (PTRACE_O_EXITKILL), one killed in it leaves the guard to kill those
	// let go.
	if err := g.wait(); err != nil {
		return fail(err)
	}
	trace.Mark("release guard ready")
	for _, b := range bs {
		if err := b.ready(opt.Signal); err != nil {
			return fail(err)
		}
	}
	for i, b := range bs {
		if err := b.letGo(); err != nil {
			return fail(err)
		}
		releaseFault(i + 1)
	}
	g.done()
	for _, b := range bs {
		b.mem.Close()
	}
	trace.Mark("released %d processes", len(bs))
	return out, nil
}

// precheck finds problems before anything is built: a damaged process
// record, files that vanished or changed (unless saved), xsave features
// this CPU lacks.
// seen holds the files earlier processes of the restart were checked
// against (checkFilesOnce).
func precheck(p *image.Process, saved savedFiles, changed ChangedFiles, seen map[string]bool) error {
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
	if st, err := os.Stat(p.Cwd); err != nil {
		return fmt.Errorf("pid %d: working directory %s: %w", p.Pid, p.Cwd, errors.Unwrap(err))
	} else if !st.IsDir() {
		return fmt.Errorf("pid %d: working directory %s: %w", p.Pid, p.Cwd, unix.ENOTDIR)
	}
	if err := checkFilesOnce(p, saved, seen); err != nil {
		return err
	}
	if err := checkXstate(p); err != nil {
		return err
	}
	for _, f := range p.Fds {
		if f.Kind != image.FdFile {
			continue
		}
		if _, err := os.Stat(f.Path); err != nil && !(errors.Is(err, fs.ErrNotExist) && f.DataIdx > 0) {
			return fmt.Errorf("pid %d fd %d: %s: %w", p.Pid, f.Num, f.Path, &missingFile{f.Path, errors.Unwrap(err)})
		}
	}
	return checkChanged(p, changed)
}

// waitPidFree waits briefly for a pid held by a dying or zombie process
// (the checkpointed original, not yet reaped), and fails if it is in use.
// With new pids any pid will do.
func waitPidFree(pid int, mode PidMode) error {
	if mode == PidsNew {
		return nil
	}
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
			if status, err := proc.ReadStatus(pid); err == nil && status.Tgid == os.Getpid() {
				e.Holder = "cr_restart itself (one of its threads)"
			}
			if pid == 1 {
				e.Holder = "the init of this pid namespace (the image's process was the init of its own: not supported)"
			}
			return e
		}
	}
}

// spawn creates the process that becomes the restored one: the stub clones
// it with pid want (0: any) and our process as its parent, in the time
// namespace tns (nil: ours), then goes away.
//
// Precondition: called on the owner thread.
func spawn(want int, tns *timeNS) (int, error) {
	if err := steerStub(); err != nil {
		return 0, err
	}
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
	if tns != nil {
		if err := tns.enter(r, mem, scratch); err != nil {
			return 0, err
		}
	}
	pid, err := clone3(r, mem, scratch, unix.CLONE_PARENT, 0, want)
	if err == nil && tns != nil && tns.first == 0 {
		tns.first = pid
	}
	return pid, err
}

// build turns the freshly created process, a copy of the stub or of its
// restored parent, whose restorer gate is at gate, into the image's
// process, up to what finish does. It reads the process's records and
// returns the next process record, or nil at the end of the image.
//
// Precondition: called on the owner thread.
func (b *builder) build(ir *image.Reader, gate uint64) (*image.Record, error) {
	var leader *image.Thread
	for i := range b.p.Threads {
		if b.p.Threads[i].Tid == b.p.Pid {
			leader = &b.p.Threads[i]
		}
	}
	t, err := newRthread(b.pid, gate, leader)
	if err != nil {
		return nil, err
	}
	b.threads = []*rthread{t}
	b.top = 10 // above every fd number of the image
	for _, f := range b.p.Fds {
		if f.Num < 0 || f.Num > 1<<20 {
			return nil, fmt.Errorf("pid %d: fd %d: image damaged", b.pid, f.Num)
		}
		b.top = max(b.top, f.Num+1)
	}
	if b.mem, err = ptrace.OpenMem(b.pid, true); err != nil {
		return nil, err
	}
	if err := b.inheritFds(); err != nil {
		return nil, err
	}
	var next *image.Record
	steps := []func() error{b.clearLayout, b.groups, b.mapVMAs, b.prepareFds, b.setMM,
		func() error { next, err = b.readRecords(ir); return errors.Join(err, b.endImage()) }, b.fixProt, b.rebuildFds, b.controllingTty, b.processState, b.cloneThreads, b.posixTimers}
	names := []string{"clear layout", "groups", "map VMAs", "prepare fds", "set mm", "pages and file data", "fix prot", "rebuild fds", "controlling tty", "process state", "clone threads", "posix timers"}
	// What a step leaves queued runs with the next one's first call: each
	// step flushes what it needs done before it looks at the process from
	// outside (see call and flush); the queue ends here, before a child is
	// forked from the process. The fd-passing socket pair and the image's
	// fd above top serve every step, and the children (inheritFds): they
	// last until finish.
	for i, step := range steps {
		if err := step(); err != nil {
			b.closePass()
			return nil, err
		}
		trace.Mark("pid %d: %s", b.pid, names[i])
	}
	b.closeContents()
	return next, b.flush()
}

// finish gives the process what a child forked from it must not inherit:
// thread state, queued signals, credentials, the agent's filter; and
// removes the restorer.
//
// Precondition: called on the owner thread.
func (b *builder) finish() error {
	if err := b.foreground(); err != nil {
		return err
	}
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
	b.closePass()
	if b.imgHigh != 0 {
		b.laterOK(anyErrno, "close", unix.SYS_CLOSE, b.imgHigh)
		b.imgHigh = 0
	}
	if err := b.confine(); err != nil {
		return err
	}
	// Stopped at the call's exit, not at the trap this unmaps.
	b.threads[0].r.Trap = false
	if _, err := b.call(unix.SYS_MUNMAP, b.gate, gateSize); err != nil {
		return fmt.Errorf("pid %d: unmap restorer: %w", b.pid, err)
	}
	return nil
}

// readRecords fills memory and file contents from the process's records,
// and returns the next process's record (nil at the end of the image).
func (b *builder) readRecords(ir *image.Reader) (*image.Record, error) {
	for {
		rec, err := ir.Next()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		switch rec.Type {
		case image.RecPages:
			if err := b.fillPages(rec, ir); err != nil {
				return nil, err
			}
		case image.RecFileData:
			d := b.data[rec.Arg]
			if d == nil {
				return nil, fmt.Errorf("image: file data %d belongs to no fd: image damaged", rec.Arg)
			}
			if _, err := io.Copy(d.f, ir); err != nil {
				return nil, fmt.Errorf("pid %d: file contents %d: %w", b.pid, rec.Arg, err)
			}
			d.filled = true
		case image.RecSame:
			if err := b.copySame(rec, ir); err != nil {
				return nil, err
			}
		case image.RecProcess:
			return &rec, nil
		case image.RecSavedFile:
			if err := b.shared.saved.load(ir); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("image: record type %d: not understood", rec.Type)
		}
	}
}

// releaseFaultEnv names a fault the tests inject: "K" kills cr_restart
// with SIGKILL once it has let K processes go, the moment a kill at
// random rarely reaches.
const releaseFaultEnv = "STASIS_TEST_KILL_RELEASE"

var releaseFaultAt, _ = strconv.Atoi(os.Getenv(releaseFaultEnv))

// releaseFault kills us if n processes let go is where the test asked.
func releaseFault(n int) {
	if releaseFaultAt > 0 && n == releaseFaultAt {
		unix.Kill(os.Getpid(), unix.SIGKILL)
		select {} // never resumed
	}
}
