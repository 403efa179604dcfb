package restart

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/proc"
)

// sysvIPC makes again, once per restore, the System V semaphore sets and
// message queues that p used, with their ids, keys, permissions, values
// and messages; one that still exists (they outlive their processes) is
// taken as it is. Choosing the id needs root (the kernel's sem_next_id
// and msg_next_id).
func (sh *shared) sysvIPC(p *image.Process) error {
	for _, s := range p.SysvSems {
		if sh.ipc["sem "+strconv.Itoa(s.ID)] {
			continue
		}
		sh.ipc["sem "+strconv.Itoa(s.ID)] = true
		what := fmt.Sprintf("System V semaphore set id %d (key %#x)", s.ID, uint32(s.Key))
		if found, err := ipcFound("sem", s.ID, s.Key, what); found || err != nil {
			return err
		}
		id, err := ipcMake("sem", s.ID, s.Key, s.Mode, what, func(key int, flags int) (uintptr, unix.Errno) {
			r, _, e := unix.Syscall(unix.SYS_SEMGET, uintptr(key), uintptr(len(s.Values)), uintptr(flags))
			return r, e
		})
		if err != nil {
			return err
		}
		if err := kernel.SemSetAll(id, s.Values); err != nil {
			return fmt.Errorf("%s: set its values: %w", what, err)
		}
	}
	for _, q := range p.SysvMsgs {
		if sh.ipc["msg "+strconv.Itoa(q.ID)] {
			continue
		}
		sh.ipc["msg "+strconv.Itoa(q.ID)] = true
		what := fmt.Sprintf("System V message queue id %d (key %#x)", q.ID, uint32(q.Key))
		if found, err := ipcFound("msg", q.ID, q.Key, what); found || err != nil {
			return err
		}
		id, err := ipcMake("msg", q.ID, q.Key, q.Mode, what, func(key int, flags int) (uintptr, unix.Errno) {
			r, _, e := unix.Syscall(unix.SYS_MSGGET, uintptr(key), uintptr(flags), 0)
			return r, e
		})
		if err != nil {
			return err
		}
		for i, m := range q.Messages {
			if err := kernel.MsgSend(id, m.Type, m.Text); err != nil {
				return fmt.Errorf("%s: queue message %d again: %w", what, i, err)
			}
		}
	}
	return nil
}

// ipcFound says whether the object of kind (sem, msg) with id still
// exists, and fails if another object holds the id.
func ipcFound(kind string, id int, key int32, what string) (bool, error) {
	for _, row := range proc.SysvRows(kind) {
		if len(row) < 2 || row[1] != strconv.Itoa(id) {
			continue
		}
		if k, _ := strconv.ParseInt(row[0], 10, 32); int32(k) != key {
			return false, fmt.Errorf("%s: the id is another's now (key %#x)", what, uint32(k))
		}
		return true, nil
	}
	return false, nil
}

// ipcMake creates the object of kind with id, through get (semget or
// msgget, given a key and flags), and returns its id.
func ipcMake(kind string, id int, key int32, mode uint32, what string, get func(key int, flags int) (uintptr, unix.Errno)) (int, error) {
	if err := os.WriteFile("/proc/sys/kernel/"+kind+"_next_id", []byte(strconv.Itoa(id)), 0); err != nil {
		return 0, fmt.Errorf("%s is gone, and making it again with its id needs root: %w", what, err)
	}
	k := int(key)
	if key == 0 {
		k = unix.IPC_PRIVATE
	}
	got, e := get(k, unix.IPC_CREAT|unix.IPC_EXCL|int(mode&0o777))
	if e != 0 {
		return 0, fmt.Errorf("%s: make it again: %w", what, e)
	}
	if int(got) != id {
		return 0, fmt.Errorf("%s: made again with id %d", what, got)
	}
	return id, nil
}
