package agent

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/proc"
	"stasis/internal/seccomp"
)

// note records that a process made a kernel object no image can hold.
type note struct {
	obj  *seccomp.Object
	what string // "io_uring instance", "socket (family 2)"
	at   time.Time
}

// notes are kept per process (thread group).
type notes struct {
	mu sync.Mutex
	m  map[int][]note
}

func (n *notes) add(pid int, x note) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.m[pid] = append(n.m[pid], x)
}

func (n *notes) forget(pid int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.m, pid)
}

// listen answers the filter's notifications: each watched call is noted
// against its process and then let through.
func (a *Agent) listen(l *os.File) {
	defer l.Close()
	fd := int(l.Fd())
	for {
		n, err := seccomp.Recv(fd)
		if errors.Is(err, seccomp.ErrNoUsers) {
			return
		}
		if err != nil {
			a.logf("seccomp listener: %v; uncheckpointable objects are no longer tracked", err)
			return
		}
		if obj := seccomp.ObjectOf(uint32(n.Nr)); obj != nil {
			what := obj.Name
			if n.Nr == unix.SYS_SOCKET {
				what = fmt.Sprintf("socket (family %d)", uint32(n.Args[0]))
			}
			a.notes.add(tgid(int(n.Pid)), note{obj: obj, what: what, at: time.Now()})
		}
		if err := seccomp.Continue(fd, n.ID); err != nil {
			a.logf("seccomp listener: %v", err)
		}
	}
}

// tgid is the process a thread belongs to.
func tgid(tid int) int {
	st, err := proc.ReadStatus(tid)
	if err != nil || st.Tgid == 0 {
		return tid
	}
	return st.Tgid
}

// uncheckpointable fails with what the agent saw pid create, if pid still
// holds it (an fd or a mapping that shows it); notes of objects since
// released are dropped. skip are fds to ignore (libcr's connection).
func (a *Agent) uncheckpointable(pid int, skip map[int]bool) error {
	a.notes.mu.Lock()
	list := a.notes.m[pid]
	a.notes.mu.Unlock()
	if len(list) == 0 {
		return nil
	}
	var held []string
	if fds, err := proc.Fds(pid); err == nil {
		for _, fd := range fds {
			if skip[fd] {
				continue
			}
			l, err := proc.FdLink(pid, fd)
			if err != nil || fd <= 2 && strings.HasPrefix(l, "socket:") {
				continue // a standard stream is saved as one, whatever it is
			}
			held = append(held, l)
		}
	}
	if maps, err := proc.ReadMaps(pid); err == nil {
		for _, m := range maps {
			held = append(held, m.Path)
		}
	}
	var keep []note
	for _, x := range list {
		if holds(held, x.obj.Marks) {
			keep = append(keep, x)
		}
	}
	a.notes.mu.Lock()
	a.notes.m[pid] = keep
	a.notes.mu.Unlock()
	if len(keep) == 0 {
		return nil
	}
	x := keep[0]
	return fmt.Errorf("pid %d: %s created at %s: not checkpointable", pid, x.what, x.at.Format("15:04:05"))
}

func holds(held, marks []string) bool {
	for _, h := range held {
		for _, m := range marks {
			if strings.Contains(h, m) {
				return true
			}
		}
	}
	return false
}
