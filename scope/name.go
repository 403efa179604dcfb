package scope

import (
	"fmt"
	"slices"
	"strings"
)

// Named is what cr_checkpoint -n NAME saves: the caller's processes whose
// command name (comm, as ps shows it) is name. With kind Tree, the one
// tree they form: Root is the match that every other match descends from,
// and a name matching processes of several unrelated trees is refused
// with the candidates, since any one of them would be a guess. With kind
// Process, every match, parents first; Root is set only when there is one.
// Processes of other users are never taken, even by root: a name says
// nothing of whose process is meant.
type Named struct {
	Root int
	Pids []int
}

// ResolveName resolves -n name for kind (Tree or Process).
func (s *Snapshot) ResolveName(name string, kind Kind, pol Policies) (*Named, error) {
	if name == "" {
		return nil, fmt.Errorf("-n: an empty name")
	}
	if kind != Tree && kind != Process {
		return nil, fmt.Errorf("-n %s: names processes; -g and -s take a group or session id", name)
	}
	var mine, others []int
	for _, p := range s.Procs {
		if p.Comm != name || p.Pid == s.Self || p.Kthread || p.Zombie {
			continue
		}
		if p.Uid == s.Uid {
			mine = append(mine, p.Pid)
		} else {
			others = append(others, p.Pid)
		}
	}
	slices.Sort(mine)
	if len(mine) == 0 {
		msg := fmt.Sprintf("-n %s: no process of yours (uid %d) is named %s", name, s.Uid, name)
		if len(others) > 0 {
			slices.Sort(others)
			msg += fmt.Sprintf(" (other users' are: %s)", s.Describe(others))
		}
		return nil, fmt.Errorf("%s", msg)
	}
	if kind == Process {
		n := &Named{Pids: s.parentsFirst(mine)}
		if len(mine) == 1 {
			n.Root = mine[0]
		}
		for _, pid := range n.Pids {
			if _, err := s.Resolve(Process, pid, pol); err != nil {
				return nil, err
			}
		}
		return n, nil
	}
	var roots []int
	for _, pid := range mine {
		inner := false
		for _, other := range mine {
			if other != pid && s.ancestor(other, pid) {
				inner = true
				break
			}
		}
		if !inner {
			roots = append(roots, pid)
		}
	}
	if len(roots) > 1 {
		var trees []string
		for _, r := range roots {
			tree, _ := s.Resolve(Tree, r, Policies{Ptraced: Allow, Ptracer: Skip})
			trees = append(trees, fmt.Sprintf("%s with %d processes in its tree", s.Describe([]int{r}), len(tree)))
		}
		return nil, fmt.Errorf("-n %s: names processes of %d unrelated trees: %s; give the pid of the one to save, or -p -n %s to save just the processes named %s",
			name, len(roots), strings.Join(trees, "; "), name, name)
	}
	pids, err := s.Resolve(Tree, roots[0], pol)
	if err != nil {
		return nil, err
	}
	return &Named{Root: roots[0], Pids: pids}, nil
}
