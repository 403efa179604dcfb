package checkpoint

import (
	"fmt"

	"stasis/internal/image"
	"stasis/internal/proc"
)

// A process in a pid namespace below ours (a container's, or that of a
// job an ordinary user restarted) knows itself by the pids of its own
// namespace: the last column of NSpid in /proc/PID/status. The image
// records those, so that a restart gives back the pids its libraries
// remember.

// innerPid is pid's number in the innermost pid namespace it is in, and
// how deep that namespace is below ours (1: ours).
func innerPid(pid, tid int) (int, int, error) {
	st, err := proc.ReadTaskStatus(pid, tid)
	if err != nil {
		return 0, 0, err
	}
	if len(st.NSpid) == 0 {
		return tid, 1, nil
	}
	return st.NSpid[len(st.NSpid)-1], len(st.NSpid), nil
}

// nsPids rewrites the pids of p, read through our /proc, into those of the
// process's own pid namespace, when that is not ours. A pid outside that
// namespace (a parent, a group leader) becomes 0: the process cannot name
// it either.
func nsPids(p *image.Process, status *proc.Status) error {
	if status == nil || len(status.NSpid) <= 1 {
		return nil
	}
	depth := len(status.NSpid)
	in := func(pid, tid int) int {
		n, d, err := innerPid(pid, tid)
		if err != nil || d != depth {
			return 0
		}
		return n
	}
	last := func(col []int) int {
		if len(col) != depth {
			return 0
		}
		return col[depth-1]
	}
	host := p.Pid
	tids := map[int]int{}
	for i := range p.Threads {
		t := &p.Threads[i]
		n := in(host, t.Tid)
		if n == 0 {
			return fmt.Errorf("pid %d tid %d: not in the pid namespace of its process", host, t.Tid)
		}
		tids[t.Tid], t.Tid = n, n
	}
	for i := range p.PosixTimers {
		if n, ok := tids[p.PosixTimers[i].NotifyTid]; ok {
			p.PosixTimers[i].NotifyTid = n
		}
	}
	for i := range p.Fds {
		f := &p.Fds[i]
		if ref := f.SameAs; ref != nil {
			ref.Pid = in(ref.Pid, ref.Pid)
		}
		if f.Socket == nil {
			continue
		}
		for _, files := range f.Socket.Passed {
			for _, pf := range files {
				if pf.Same != nil {
					pf.Same.Pid = in(pf.Same.Pid, pf.Same.Pid)
				}
			}
		}
		for j := range f.Socket.Creds {
			c := &f.Socket.Creds[j]
			n := in(c.Pid, c.Pid)
			if n == 0 {
				return fmt.Errorf("pid %d fd %d: message %d of its queue: its sender, pid %d, is not in the pid namespace of the receiver: its credentials cannot be given again", host, f.Num, j+1, c.Pid)
			}
			c.Pid = n
		}
	}
	p.Pid, p.PPid = last(status.NSpid), in(p.PPid, p.PPid)
	p.Pgid, p.Sid = last(status.NSpgid), last(status.NSsid)
	return nil
}
