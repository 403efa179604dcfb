package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"stasis/checkpoint"
	"stasis/internal/control"
	"stasis/internal/proc"
	"stasis/scope"
	"stasis/writer"
)

// checkpoint takes the checkpoint req asks for, on behalf of requester (0:
// the agent itself), and runs then, if given, before letting go of the job.
func (a *Agent) checkpoint(req control.Request, requester int, then func(), stream *os.File) control.Reply {
	start := time.Now()
	defer a.kick()
	a.mu.Lock()
	defer a.mu.Unlock()
	fail := control.Failed
	target := req.Target
	if a.isJob(target) && (req.Scope == control.ScopeTree || req.Scope == control.ScopeProcess) {
		target = 0 // the pid we answer for is no process, here or outside
	}
	if requester == 0 && a.cfg.Inside != nil {
		// From outside our pid namespace: its pids are not ours.
		var err error
		if target, err = a.cfg.Inside.Translate(target); err != nil {
			return fail(1, err)
		}
	}
	target, err := a.target(req.Scope, target)
	if err != nil {
		return fail(1, err)
	}
	pids, err := a.resolve(req, target, nil)
	if err != nil {
		return fail(1, err)
	}
	path := req.Path
	if path == "" {
		var err error
		if path, err = a.defaultPath(target, requester); err != nil {
			return fail(1, err)
		}
		req.Dir = a.cfg.File == "" && a.cfg.Dir != ""
	}
	var clients []*client
	conns := map[int]map[int]bool{}
	for _, pid := range pids {
		conns[pid] = map[int]bool{}
		for _, cl := range a.clientsOf(pid) {
			clients = append(clients, cl)
			conns[pid][cl.fd] = true
		}
		if err := a.uncheckpointable(pid, conns[pid]); err != nil {
			return fail(1, err)
		}
	}
	a.ids++
	id := a.ids
	wait, timed := answerWait, false
	if req.Time > 0 && time.Duration(req.Time)*time.Second <= wait {
		wait, timed = time.Duration(req.Time)*time.Second, true
	}
	sent, ready, omitted, status, err := a.prepare(clients, control.Event{Ev: control.EvPrepare, ID: id,
		Requester: requester, Target: req.Target, Scope: req.Scope, Signal: req.Signal, Path: path}, wait, timed)
	if err == nil && len(omitted) == len(pids) {
		status, err = control.StatusOmitted, errors.New("every process asked to be omitted: no processes checkpointed")
	}
	if err != nil {
		// Every client asked, answered or not: one still in its callbacks
		// (or waiting for a critical section) stops waiting for us.
		a.done(sent, id, path, status, err)
		if status == control.StatusPermFail {
			for _, pid := range pids {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		return fail(status, err)
	}
	opt := checkpoint.Options{Seccomp: a.filter, AgentFds: conns, Save: checkpoint.SaveFiles(req.Save), Images: a.images, AgentAs: a.was, CutPipes: req.CutPipes, TCP: checkpoint.TCPOutside(req.TCP), KeepFilesBelow: req.KeepFilesBelow}
	resolve := func() ([]int, error) { return a.resolve(req, target, omitted) }
	dest := checkpoint.Dest{Path: asSeenBy(requester, path), Policy: writer.Options{Policy: writer.Policy(req.Policy), Sync: !req.NoSync}}
	if req.Backup != "" {
		dest.Policy.BackupName = asSeenBy(requester, req.Backup)
	}
	if stream != nil {
		dest.Stream = stream
	}
	dest.Compress = req.Compress
	if req.Time > 0 {
		dest.Deadline = start.Add(time.Duration(req.Time) * time.Second)
	}
	save := checkpoint.Save
	if req.Dir {
		save = checkpoint.SaveDir
	}
	err = save(a.owner, resolve, dest, unix.Signal(req.Signal), opt)
	status = 1
	if errors.Is(err, checkpoint.ErrTimeout) {
		status = control.StatusTimeout
	}
	a.done(ready, id, path, status, err)
	if errors.Is(err, checkpoint.ErrTimeout) {
		return fail(control.StatusTimeout, err)
	}
	if err != nil {
		return fail(1, err)
	}
	if then != nil {
		then()
	}
	return control.Reply{OK: true, Path: path}
}

// target is what a request's target means. For a tree or a process, 0
// or our own pid names the job (its main process). For a group or a
// session the target is that group's or session's id, taken as given: a
// shell with job control makes `cr_run ./app &` lead a group that the job
// is in, and `cr_checkpoint -g $!` means that group (without the agent,
// which is no part of its job); 0 means the job's own group or session.
func (a *Agent) target(kind string, target int) (int, error) {
	switch kind {
	case control.ScopeGroup, control.ScopeSession:
		if target != 0 {
			return target, nil
		}
		get := unix.Getpgid
		if kind == control.ScopeSession {
			get = unix.Getsid
		}
		id, err := get(a.job)
		if err != nil {
			return 0, fmt.Errorf("the job's main process pid %d: its %s: %w", a.job, kind, err)
		}
		return id, nil
	}
	if a.isJob(target) {
		return a.job, nil
	}
	return target, nil
}

// prepare tells the libcr processes a checkpoint is coming and collects
// their answers (BLCR's meanings: any temporary failure cancels it; a
// permanent failure cancels it and kills the job; a process may ask to be
// left out), for at most wait (timed: the request's --time, whose end is a
// timeout). It returns those it asked, and those of them that are ready
// and wait for EvDone.
func (a *Agent) prepare(clients []*client, ev control.Event, wait time.Duration, timed bool) (sent, ready []*client, omitted map[int]bool, status int, err error) {
	for _, cl := range clients {
		if cl.conn.Send(ev) == nil {
			sent = append(sent, cl)
		}
	}
	omitted = map[int]bool{}
	// Closed, not sent once: every client after the first late one is
	// late too.
	deadline := make(chan struct{})
	defer time.AfterFunc(wait, func() { close(deadline) }).Stop()
	for _, cl := range sent {
		ans, ok, late := cl.answer(ev.ID, deadline)
		if late {
			status, err = control.Late(cl.pid, wait, timed)
			continue
		}
		if !ok {
			continue // gone: it will not be in the image either
		}
		switch ans.Op {
		case control.OpReady:
			ready = append(ready, cl)
		case control.OpOmit:
			omitted[cl.pid] = true
		case control.OpTempFail:
			status, err = control.StatusTempFail, &control.Cancelled{Msg: fmt.Sprintf("pid %d: checkpoint cancelled by the application: try again later%s", cl.pid, why(ans.Msg)), Code: ans.Code}
		case control.OpPermFail:
			if status != control.StatusTempFail {
				status, err = control.StatusPermFail, &control.Cancelled{Msg: fmt.Sprintf("pid %d: checkpoint cancelled by the application: unable to checkpoint%s; the job is killed", cl.pid, why(ans.Msg)), Code: ans.Code}
			}
		}
	}
	return sent, ready, omitted, status, err
}

func why(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

// answer waits for the client's answer to checkpoint id.
func (cl *client) answer(id uint64, deadline <-chan struct{}) (ans control.Request, ok, late bool) {
	for {
		select {
		case ans := <-cl.answers:
			if ans.ID == id {
				return ans, true, false
			}
		case <-cl.gone:
			return control.Request{}, false, false
		case <-deadline:
			return control.Request{}, false, true
		}
	}
}

// answerWait bounds how long a checkpoint waits for libcr's callbacks (and
// critical sections) when the request has no --time (a shorter --time
// bounds it instead): a process that is stopped, or deadlocked in one,
// makes the checkpoint fail for now instead of holding the agent.
const answerWait = 60 * time.Second

// done tells the libcr processes how the checkpoint ended; status is
// cr_checkpoint's exit status for err.
func (a *Agent) done(ready []*client, id uint64, path string, status int, err error) {
	ev := control.Event{Ev: control.EvDone, ID: id, Path: path}
	if err != nil {
		r := control.Failed(status, err)
		ev.Error, ev.Status, ev.Code = r.Error, r.Status, r.Code
	}
	for _, cl := range ready {
		cl.conn.Send(ev)
	}
}

// resolve finds the processes req names, all of which must be in the
// job, leaving out those that asked to be omitted.
func (a *Agent) resolve(req control.Request, target int, omitted map[int]bool) ([]int, error) {
	kind := scope.Tree
	for k := scope.Tree; k <= scope.Session; k++ {
		if req.Scope == k.String() {
			kind = k
		}
	}
	snap, err := scope.Take()
	if err != nil {
		return nil, err
	}
	delete(snap.Procs, a.self) // the agent is not part of its job
	pol := scope.Policies{Ptraced: scope.Policy(req.Ptraced), Ptracer: scope.Policy(req.Ptracer)}
	roots := []int{target}
	if a.isJob(req.Target) && kind == scope.Tree {
		// The whole job: every child of ours, the orphans that came to us
		// as subreaper included, with their trees.
		roots = nil
		for pid, p := range snap.Procs {
			if p.PPid == a.self {
				roots = append(roots, pid)
			}
		}
		slices.Sort(roots)
		if i := slices.Index(roots, a.job); i > 0 { // the main process first
			roots[0], roots[i] = roots[i], roots[0]
		}
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("the job of agent pid %d has no process left", a.self)
	}
	var pids []int
	for _, root := range roots {
		some, err := snap.Resolve(kind, root, pol)
		if err != nil {
			return nil, err
		}
		pids = append(pids, some...)
	}
	var out []int
	for _, pid := range pids {
		if err := a.inJob(pid); err != nil {
			return nil, err
		}
		if !omitted[pid] {
			out = append(out, pid)
		}
	}
	return out, nil
}

// inJob checks that pid is the job or one of its descendants.
func (a *Agent) inJob(pid int) error {
	for p := pid; p > 0; { // the agent may be pid 1 of the job's pid namespace
		if p == a.self {
			return nil
		}
		st, err := proc.ReadStat(p)
		if err != nil {
			return fmt.Errorf("pid %d: no such process", pid)
		}
		if p == pid && (st.State == 'Z' || st.State == 'X') {
			return fmt.Errorf("pid %d: zombie: nothing left to checkpoint", pid)
		}
		p = st.PPid
	}
	return fmt.Errorf("pid %d is not part of the job of agent pid %d", pid, a.self)
}

// defaultPath is where a checkpoint without a destination goes: the
// agent's --checkpoint-file, or its --checkpoint-dir (a checkpoint
// directory), else context.PID in the requester's working directory.
func (a *Agent) defaultPath(pid, requester int) (string, error) {
	name := "context." + strconv.Itoa(pid)
	switch {
	case a.cfg.File != "":
		return a.cfg.File, nil
	case a.cfg.Dir != "":
		return a.cfg.Dir, nil // a checkpoint directory, as cr_checkpoint -d
	case requester > 0:
		cwd, err := proc.Readlink(requester, "cwd")
		if err != nil {
			return "", fmt.Errorf("pid %d: working directory: %w", requester, err)
		}
		return filepath.Join(cwd, name), nil
	}
	return filepath.Abs(name)
}

// asSeenBy resolves path as the requester sees the file system (through
// /proc/PID/root), so that a process in a chroot or a mount namespace of
// its own cannot have the agent write outside what it sees.
func asSeenBy(requester int, path string) string {
	if requester <= 0 || !filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(fmt.Sprintf("/proc/%d/root", requester), path)
}

// checkpointOn takes the checkpoint that sig asks for; with exit, the job
// is then ended and the agent exits with ExitCheckpointed.
func (a *Agent) checkpointOn(sig unix.Signal, exit bool) {
	req := control.Request{Scope: control.ScopeTree}
	var then func()
	if exit {
		req.Signal = int(unix.SIGKILL)
		then = func() { a.exitByCkp <- struct{}{} }
	}
	r := a.checkpoint(req, 0, then, nil)
	if !r.OK {
		a.logf("checkpoint on %v failed: %s", sig, r.Error)
	}
}

// every checkpoints the job each interval. A failed checkpoint leaves the
// last good image in place.
func (a *Agent) every(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for range t.C {
		r := a.checkpoint(control.Request{Scope: control.ScopeTree}, 0, nil, nil)
		if !r.OK {
			a.logf("periodic checkpoint failed: %s", r.Error)
		}
	}
}
