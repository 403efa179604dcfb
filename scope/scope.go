package scope

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Kind is what an ID names.
type Kind int

const (
	Tree    Kind = iota // the process and its descendants (-T, the default)
	Process             // one process (-p)
	Group               // every process of a process group (-g)
	Session             // every process of a session (-s)
)

func (k Kind) String() string {
	return [...]string{"tree", "process", "group", "session"}[k]
}

// What to do with a process in the scope that is traced, or that traces.
type Policy int

const (
	Fail  Policy = iota // refuse the checkpoint (the default)
	Skip                // leave it out, and in a tree its descendants too
	Allow               // save it anyway
)

// Policies are BLCR's --ptraced-* and --ptracer-* options.
type Policies struct {
	Ptraced Policy // --ptraced-error, --ptraced-skip, --ptraced-allow
	Ptracer Policy // --ptracer-error, --ptracer-skip
}

// Proc is one process of a Snapshot.
type Proc struct {
	Pid, PPid, Pgid, Sid int
	Uid                  int // real uid
	Comm                 string
	Kthread              bool
	Zombie               bool
	TracerPid            int
}

// Snapshot is the process table at one moment.
type Snapshot struct {
	Procs map[int]*Proc
	Self  int // the checkpointer's pid, never saved
	// SelfTids are the checkpointer's threads: a process one of them
	// traces is one it is freezing, not one under a debugger.
	SelfTids map[int]bool
	Uid      int // the checkpointer's real uid; 0 may save anyone's processes
}

// ErrEmpty: the scope holds no process (BLCR: ESRCH).
var ErrEmpty = errors.New("no processes to checkpoint")

// Resolve returns the pids kind and id name in s, parents before children.
func (s *Snapshot) Resolve(kind Kind, id int, pol Policies) ([]int, error) {
	if id <= 0 {
		return nil, fmt.Errorf("%s %d: not a valid id", kind, id)
	}
	kids := map[int][]int{}
	for _, p := range s.Procs {
		kids[p.PPid] = append(kids[p.PPid], p.Pid)
	}
	tracees := map[int][]int{}
	for _, p := range s.Procs {
		if p.TracerPid != 0 {
			tracees[p.TracerPid] = append(tracees[p.TracerPid], p.Pid)
		}
	}
	// skip reports whether p is left out by a policy, or fails.
	skip := func(p *Proc) (bool, error) {
		if p.TracerPid != 0 && p.TracerPid != s.Self && !s.SelfTids[p.TracerPid] {
			switch pol.Ptraced {
			case Fail:
				return false, fmt.Errorf("pid %d (%s) is traced by pid %d: use --ptraced-skip to leave it out", p.Pid, p.Comm, p.TracerPid)
			case Skip:
				return true, nil
			case Allow:
				return false, fmt.Errorf("pid %d (%s) is traced by pid %d: --ptraced-allow is not possible: stasis freezes processes with ptrace, and a process has only one tracer", p.Pid, p.Comm, p.TracerPid)
			}
		}
		if t := tracees[p.Pid]; len(t) > 0 && p.Pid != s.Self {
			if pol.Ptracer == Skip {
				return true, nil
			}
			return false, fmt.Errorf("pid %d (%s) traces pid %d: use --ptracer-skip to leave it out", p.Pid, p.Comm, t[0])
		}
		return false, nil
	}
	var out []int
	var add func(pid int, walk bool) error
	add = func(pid int, walk bool) error {
		p := s.Procs[pid]
		if p == nil {
			return nil
		}
		if err := s.check(p); err != nil {
			return err
		}
		skipped, err := skip(p)
		if err != nil || skipped {
			return err // a skipped process takes its subtree with it
		}
		out = append(out, pid)
		if !walk {
			return nil
		}
		children := slices.Clone(kids[pid])
		slices.Sort(children)
		for _, c := range children {
			if err := add(c, true); err != nil {
				return err
			}
		}
		return nil
	}
	switch kind {
	case Tree, Process:
		if s.Procs[id] == nil {
			return nil, fmt.Errorf("pid %d: no such process", id)
		}
		if kind == Tree && id != s.Self && s.ancestor(id, s.Self) {
			return nil, fmt.Errorf("pid %d is an ancestor of cr_checkpoint (pid %d): its tree holds the checkpointer", id, s.Self)
		}
		if err := add(id, kind == Tree); err != nil {
			return nil, err
		}
	case Group, Session:
		var members []int
		for _, p := range s.Procs {
			if kind == Group && p.Pgid == id || kind == Session && p.Sid == id {
				members = append(members, p.Pid)
			}
		}
		if len(members) == 0 {
			return nil, fmt.Errorf("%s %d: no such %s", kind, id, map[Kind]string{Group: "process group", Session: "session"}[kind])
		}
		for _, pid := range s.parentsFirst(members) {
			if err := add(pid, false); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("scope kind %d: unknown", kind)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s %d: %w (every process was left out)", kind, id, ErrEmpty)
	}
	return out, nil
}

// ancestor says whether a is an ancestor of pid.
func (s *Snapshot) ancestor(a, pid int) bool {
	for p, n := s.Procs[pid], 0; p != nil && n < 1<<16; p, n = s.Procs[p.PPid], n+1 {
		if p.PPid == a {
			return true
		}
		if p.PPid <= 0 || p.PPid == p.Pid {
			return false
		}
	}
	return false
}

// check refuses a process that may never be saved.
func (s *Snapshot) check(p *Proc) error {
	switch {
	case p.Pid == s.Self:
		return fmt.Errorf("pid %d: is the checkpointer itself", p.Pid)
	case p.Kthread:
		return fmt.Errorf("pid %d (%s): kernel thread: cannot be checkpointed", p.Pid, p.Comm)
	case s.Uid != 0 && p.Uid != s.Uid:
		return fmt.Errorf("pid %d (%s) belongs to uid %d: not yours to checkpoint", p.Pid, p.Comm, p.Uid)
	}
	return nil
}

// parentsFirst orders pids so that a parent comes before its children
// (by depth in the whole table, then by pid).
func (s *Snapshot) parentsFirst(pids []int) []int {
	depth := func(pid int) int {
		d := 0
		for p := s.Procs[pid]; p != nil && d < 1<<16; p = s.Procs[p.PPid] {
			d++
		}
		return d
	}
	out := slices.Clone(pids)
	slices.SortFunc(out, func(a, b int) int {
		if da, db := depth(a), depth(b); da != db {
			return da - db
		}
		return a - b
	})
	return out
}

// Describe lists pids with their names, for messages.
func (s *Snapshot) Describe(pids []int) string {
	var parts []string
	for _, pid := range pids {
		name := "?"
		if p := s.Procs[pid]; p != nil {
			name = p.Comm
		}
		parts = append(parts, fmt.Sprintf("%d (%s)", pid, name))
	}
	return strings.Join(parts, ", ")
}
