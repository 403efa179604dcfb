package scope

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"stasis/internal/proc"
)

// table: 1 init; 100 a shell (session and group 100) with children 101
// (its own group 101, with child 104) and 102 (zombie); 103 traced by 105;
// 106 another user's, child of 101; 2 kthreadd with a kernel thread 3.
func table() *Snapshot {
	ps := []*Proc{
		{Pid: 1, PPid: 0, Pgid: 1, Sid: 1, Comm: "init"},
		{Pid: 100, PPid: 1, Pgid: 100, Sid: 100, Comm: "sh", Uid: 1000},
		{Pid: 101, PPid: 100, Pgid: 101, Sid: 100, Comm: "worker", Uid: 1000},
		{Pid: 102, PPid: 100, Pgid: 100, Sid: 100, Comm: "done", Uid: 1000, Zombie: true},
		{Pid: 104, PPid: 101, Pgid: 101, Sid: 100, Comm: "sub", Uid: 1000},
		{Pid: 103, PPid: 1, Pgid: 103, Sid: 103, Comm: "debuggee", Uid: 1000, TracerPid: 105},
		{Pid: 105, PPid: 1, Pgid: 105, Sid: 105, Comm: "gdb", Uid: 1000},
		{Pid: 106, PPid: 104, Pgid: 101, Sid: 100, Comm: "su", Uid: 0},
		{Pid: 2, PPid: 0, Pgid: 0, Sid: 0, Comm: "kthreadd", Kthread: true},
		{Pid: 3, PPid: 2, Pgid: 0, Sid: 0, Comm: "kworker", Kthread: true},
		{Pid: 200, PPid: 1, Pgid: 200, Sid: 200, Comm: "cr_checkpoint", Uid: 1000},
	}
	s := &Snapshot{Procs: map[int]*Proc{}, Self: 200, Uid: 0}
	for _, p := range ps {
		s.Procs[p.Pid] = p
	}
	return s
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		name string
		uid  int
		kind Kind
		id   int
		pol  Policies
		want []int
		err  string
	}{
		{"tree", 0, Tree, 100, Policies{}, []int{100, 101, 104, 106, 102}, ""},
		{"subtree", 0, Tree, 101, Policies{}, []int{101, 104, 106}, ""},
		{"process", 0, Process, 101, Policies{}, []int{101}, ""},
		{"group", 0, Group, 101, Policies{}, []int{101, 104, 106}, ""},
		{"session", 0, Session, 100, Policies{}, []int{100, 101, 102, 104, 106}, ""},
		{"no such pid", 0, Process, 999, Policies{}, nil, "pid 999: no such process"},
		{"no such group", 0, Group, 999, Policies{}, nil, "group 999: no such process group"},
		{"no such session", 0, Session, 998, Policies{}, nil, "session 998: no such session"},
		{"bad id", 0, Tree, 0, Policies{}, nil, "not a valid id"},
		{"another user's", 1000, Tree, 100, Policies{}, nil, "pid 106 (su) belongs to uid 0"},
		{"own subtree", 1000, Process, 104, Policies{}, []int{104}, ""},
		{"kernel thread", 0, Process, 3, Policies{}, nil, "pid 3 (kworker): kernel thread"},
		{"ancestor", 0, Tree, 1, Policies{Ptraced: Skip, Ptracer: Skip}, nil, "pid 1 is an ancestor of cr_checkpoint (pid 200)"},
		{"self", 0, Process, 200, Policies{}, nil, "pid 200: is the checkpointer itself"},
		{"traced", 0, Process, 103, Policies{}, nil, "pid 103 (debuggee) is traced by pid 105"},
		{"traced, skip", 0, Group, 103, Policies{Ptraced: Skip}, nil, "every process was left out"},
		{"traced, allow", 0, Process, 103, Policies{Ptraced: Allow}, nil, "--ptraced-allow is not possible"},
		{"tracer", 0, Process, 105, Policies{}, nil, "pid 105 (gdb) traces pid 103"},
		{"tracer, skip", 0, Process, 105, Policies{Ptracer: Skip}, nil, "every process was left out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := table()
			s.Uid = c.uid
			got, err := s.Resolve(c.kind, c.id, c.pol)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Resolve = %v, %v; want error with %q", got, err, c.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("Resolve = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

func TestResolveEmptyIsErrEmpty(t *testing.T) {
	_, err := table().Resolve(Process, 103, Policies{Ptraced: Skip})
	if !errors.Is(err, ErrEmpty) {
		t.Fatalf("err = %v, want ErrEmpty", err)
	}
}

func TestTake(t *testing.T) {
	s, err := Take()
	if err != nil {
		t.Fatal(err)
	}
	me := s.Procs[s.Self]
	if me == nil || me.PPid == 0 {
		t.Fatalf("Take: our own process is missing or has no parent: %+v", me)
	}
	if _, err := s.Resolve(Process, s.Self, Policies{}); err == nil || !strings.Contains(err.Error(), "checkpointer itself") {
		t.Fatalf("resolving ourselves: %v", err)
	}
}

// TestReadProc: what readProc takes from /proc/PID/status alone is what
// stat says, for us, for init and for a kernel thread.
func TestReadProc(t *testing.T) {
	for _, pid := range []int{os.Getpid(), 1, 2} {
		p := readProc(pid)
		st, err := proc.ReadStat(pid)
		if p == nil || err != nil {
			t.Fatalf("pid %d: readProc %v, stat %v", pid, p, err)
		}
		want := Proc{Pid: pid, PPid: st.PPid, Pgid: st.Pgrp, Sid: st.Session, Comm: st.Comm,
			Kthread: st.Flags&proc.PF_KTHREAD != 0, Zombie: st.State == 'Z', Uid: p.Uid, TracerPid: p.TracerPid}
		if *p != want {
			t.Errorf("pid %d: readProc %+v, from stat %+v", pid, *p, want)
		}
	}
	if p := readProc(2); p != nil && !p.Kthread {
		t.Errorf("pid 2 (%s) is not seen as a kernel thread", p.Comm)
	}
}

func TestResolveName(t *testing.T) {
	s := &Snapshot{Self: 999, Uid: 1000, Procs: map[int]*Proc{
		10: {Pid: 10, PPid: 1, Uid: 1000, Comm: "solver"},
		11: {Pid: 11, PPid: 10, Uid: 1000, Comm: "solver"},
		12: {Pid: 12, PPid: 11, Uid: 1000, Comm: "helper"},
		20: {Pid: 20, PPid: 1, Uid: 1000, Comm: "make"},
		21: {Pid: 21, PPid: 20, Uid: 1000, Comm: "cc"},
		22: {Pid: 22, PPid: 20, Uid: 1000, Comm: "cc"},
		30: {Pid: 30, PPid: 1, Uid: 1000, Comm: "cc"},
		40: {Pid: 40, PPid: 1, Uid: 2000, Comm: "solver"},
		50: {Pid: 50, PPid: 1, Uid: 2000, Comm: "theirs"},
	}}
	n, err := s.ResolveName("solver", Tree, Policies{})
	if err != nil || n.Root != 10 || !slices.Equal(n.Pids, []int{10, 11, 12}) {
		t.Fatalf("-n solver: %+v, %v; want the tree of 10 (another user's 40 not taken)", n, err)
	}
	if _, err := s.ResolveName("cc", Tree, Policies{}); err == nil || !strings.Contains(err.Error(), "3 unrelated trees") {
		t.Fatalf("-T -n cc over three unrelated trees: %v", err)
	}
	n, err = s.ResolveName("cc", Process, Policies{})
	if err != nil || n.Root != 0 || !slices.Equal(n.Pids, []int{30, 21, 22}) && !slices.Equal(n.Pids, []int{21, 22, 30}) {
		t.Fatalf("-p -n cc: %+v, %v", n, err)
	}
	if _, err := s.ResolveName("nothing", Tree, Policies{}); err == nil || !strings.Contains(err.Error(), "no process of yours") {
		t.Fatalf("-n nothing: %v", err)
	}
	if _, err := s.ResolveName("theirs", Tree, Policies{}); err == nil || !strings.Contains(err.Error(), "other users' are: 50 (theirs)") {
		t.Fatalf("-n theirs: %v", err)
	}
	if _, err := s.ResolveName("solver", Group, Policies{}); err == nil {
		t.Fatal("-g -n accepted")
	}
}
