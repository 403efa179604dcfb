package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/proc"
)

// sysvUse is what System V semaphore sets and message queues one process
// used last.
type sysvUse struct {
	sems []image.SysvSem
	msgs []image.SysvMsg
}

// sysvIPC finds the System V semaphore sets and message queues that the
// processes pids used, by process, and reads them: a set's values, a
// queue's messages (MSG_COPY, which leaves them queued). The kernel keeps
// no list of who uses such an object, only who used it last: a queue's
// last sender and receiver (lspid, lrpid), a semaphore's last semop
// (GETPID). So an object a process only created, or used before another
// process did, is not seen. One that cannot be read is refused, by name.
func sysvIPC(pids []int) (map[int]*sysvUse, error) {
	in := map[int]bool{}
	for _, pid := range pids {
		in[pid] = true
	}
	used := map[int]*sysvUse{}
	use := func(pid int) *sysvUse {
		if used[pid] == nil {
			used[pid] = &sysvUse{}
		}
		return used[pid]
	}
	if len(pids) > 0 && !sameIPCNamespace(pids[0]) {
		return used, nil // its objects are not the ones /proc/sysvipc shows us
	}
	for _, q := range proc.SysvRows("msg") {
		// key msqid perms cbytes qnum lspid lrpid ...
		if len(q) < 7 {
			continue
		}
		for _, col := range []int{6, 5} {
			if pid, _ := strconv.Atoi(q[col]); pid > 0 && in[pid] {
				m, err := readQueue(q)
				if err != nil {
					return nil, fmt.Errorf("pid %d: System V message queue id %s (key %s, %s messages queued): %w: not checkpointable", pid, q[1], sysvKey(q[0]), q[4], err)
				}
				use(pid).msgs = append(use(pid).msgs, *m)
				break
			}
		}
	}
	for _, s := range proc.SysvRows("sem") {
		// key semid perms nsems ...
		if len(s) < 4 {
			continue
		}
		id, err1 := strconv.Atoi(s[1])
		n, err2 := strconv.Atoi(s[3])
		if err1 != nil || err2 != nil {
			continue
		}
		for i := range n {
			pid, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), uintptr(i), semGetpid, 0, 0, 0)
			if errno != 0 || !in[int(pid)] {
				continue
			}
			vals, err := kernel.SemGetAll(id, n)
			if err != nil {
				return nil, fmt.Errorf("pid %d: System V semaphore set id %d (key %s, %d semaphores): read its values: %w: not checkpointable", pid, id, sysvKey(s[0]), n, err)
			}
			key, _ := strconv.ParseInt(s[0], 10, 64)
			mode, _ := strconv.ParseUint(s[2], 8, 32)
			use(int(pid)).sems = append(use(int(pid)).sems, image.SysvSem{Key: int32(key), ID: id, Mode: uint32(mode) & 0o777, Values: vals})
			break
		}
	}
	return used, nil
}

// readQueue reads the queue of a /proc/sysvipc/msg row, leaving its
// messages queued.
func readQueue(q []string) (*image.SysvMsg, error) {
	id, _ := strconv.Atoi(q[1])
	key, _ := strconv.ParseInt(q[0], 10, 64)
	mode, _ := strconv.ParseUint(q[2], 8, 32)
	n, _ := strconv.Atoi(q[4])
	limit := 1 << 20
	if b, err := os.ReadFile("/proc/sys/kernel/msgmax"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v > 0 {
			limit = v
		}
	}
	m := &image.SysvMsg{Key: int32(key), ID: id, Mode: uint32(mode) & 0o777}
	for i := range n {
		typ, text, err := kernel.MsgPeek(id, i, limit)
		if errors.Is(err, unix.ENOMSG) {
			break
		}
		if errors.Is(err, unix.ENOSYS) {
			return nil, errors.New("this kernel cannot read a queue without emptying it (no MSG_COPY)")
		}
		if err != nil {
			return nil, fmt.Errorf("read message %d: %w", i, err)
		}
		m.Messages = append(m.Messages, image.SysvMessage{Type: typ, Text: text})
	}
	return m, nil
}

// semGetpid is semctl's GETPID (linux/sem.h).
const semGetpid = 11

// sysvKey prints a key as ipcs does.
func sysvKey(s string) string {
	k, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return s
	}
	if k == 0 {
		return "IPC_PRIVATE"
	}
	return fmt.Sprintf("%#08x", uint32(k))
}

// sameIPCNamespace reports whether pid is in our IPC namespace.
func sameIPCNamespace(pid int) bool {
	theirs, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", pid))
	ours, err2 := os.Readlink("/proc/self/ns/ipc")
	return err1 != nil || err2 != nil || theirs == ours
}
