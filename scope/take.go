package scope

import (
	"os"
	"strconv"
	"strings"

	"stasis/internal/proc"
)

// Take reads the process table from /proc. Processes that exit while it
// reads are left out.
func Take() (*Snapshot, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Procs: map[int]*Proc{}, Self: os.Getpid(), Uid: os.Getuid(), SelfTids: map[int]bool{}}
	if tids, err := proc.Tasks(s.Self); err == nil {
		for _, t := range tids {
			s.SelfTids[t] = true
		}
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p := readProc(pid); p != nil {
			s.Procs[pid] = p
		}
	}
	return s, nil
}

// readProc reads what a Snapshot holds of pid from /proc/PID/status, and
// from stat too only on a kernel whose status lacks what stat has (the
// Kthread line, before Linux 6.5): one file per process of the machine,
// not two, read twice by each checkpoint. nil if it exited meanwhile.
func readProc(pid int) *Proc {
	status, err := proc.ReadStatus(pid)
	if err != nil {
		return nil
	}
	p := &Proc{Pid: pid, PPid: status.PPid, Comm: status.Name, Kthread: status.Kthread,
		Zombie: strings.HasPrefix(status.State, "Z"), TracerPid: status.TracerPid}
	if len(status.Uid) > 0 {
		p.Uid = status.Uid[0]
	}
	if status.HasKthread && len(status.NSpgid) > 0 && len(status.NSsid) > 0 {
		// The first column is the pid namespace of /proc, as in stat.
		p.Pgid, p.Sid = status.NSpgid[0], status.NSsid[0]
		return p
	}
	st, err := proc.ReadStat(pid)
	if err != nil {
		return nil
	}
	p.PPid, p.Pgid, p.Sid, p.Comm = st.PPid, st.Pgrp, st.Session, st.Comm
	p.Kthread = p.Kthread || st.Flags&proc.PF_KTHREAD != 0
	p.Zombie = st.State == 'Z'
	return p
}
