package scope

import (
	"os"
	"strconv"

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
		st, err := proc.ReadStat(pid)
		if err != nil {
			continue
		}
		status, err := proc.ReadStatus(pid)
		if err != nil {
			continue
		}
		p := &Proc{Pid: pid, PPid: st.PPid, Pgid: st.Pgrp, Sid: st.Session, Comm: st.Comm,
			Kthread: st.Flags&proc.PF_KTHREAD != 0 || status.Kthread, Zombie: st.State == 'Z',
			TracerPid: status.TracerPid}
		if len(status.Uid) > 0 {
			p.Uid = status.Uid[0]
		}
		s.Procs[pid] = p
	}
	return s, nil
}
