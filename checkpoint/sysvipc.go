package checkpoint

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// sysvIPC refuses a checkpoint of pids if one of them used a System V
// semaphore set or message queue, which an image does not hold yet: a
// restart after the object is gone would find semctl failing and the
// queue empty. The kernel keeps no list of who uses such an object, only
// who used it last: a queue's last sender and receiver (lspid, lrpid), a
// semaphore's last semop (GETPID). So a process that only created one, or
// used it before another process did, is not seen.
func sysvIPC(pids []int) error {
	in := map[int]bool{}
	for _, pid := range pids {
		in[pid] = true
	}
	if len(pids) > 0 && !sameIPCNamespace(pids[0]) {
		return nil // its objects are not the ones /proc/sysvipc shows us
	}
	for _, q := range sysvTable("/proc/sysvipc/msg") {
		// key msqid perms cbytes qnum lspid lrpid ...
		if len(q) < 7 {
			continue
		}
		for _, col := range []int{5, 6} {
			if pid, _ := strconv.Atoi(q[col]); pid > 0 && in[pid] {
				return fmt.Errorf("pid %d: System V message queue id %s (key %s, %s messages queued): not checkpointable (stasis does not save System V message queues yet)", pid, q[1], sysvKey(q[0]), q[4])
			}
		}
	}
	for _, s := range sysvTable("/proc/sysvipc/sem") {
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
			if errno == 0 && in[int(pid)] {
				return fmt.Errorf("pid %d: System V semaphore set id %d (key %s, %d semaphores): not checkpointable (stasis does not save System V semaphores yet)", pid, id, sysvKey(s[0]), n)
			}
		}
	}
	return nil
}

// semGetpid is semctl's GETPID (linux/sem.h).
const semGetpid = 11

// sysvTable returns the rows of a /proc/sysvipc table, split in fields.
func sysvTable(path string) [][]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 0 && fs[0] != "key" {
			rows = append(rows, fs)
		}
	}
	return rows
}

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
