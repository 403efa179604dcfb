package kernel

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// semctl commands (linux/sem.h).
const (
	semGetAll = 13
	semSetAll = 17
	msgCopy   = 0o40000 // MSG_COPY: msgrcv copies the message at an index, leaving it queued
)

// SemGetAll returns the values of the n semaphores of set id.
func SemGetAll(id, n int) ([]uint16, error) {
	v := make([]uint16, max(n, 1))
	if _, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, semGetAll, uintptr(unsafe.Pointer(&v[0])), 0, 0); e != 0 {
		return nil, e
	}
	return v[:n], nil
}

// SemSetAll sets the values of the semaphores of set id.
func SemSetAll(id int, v []uint16) error {
	if len(v) == 0 {
		return nil
	}
	if _, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, semSetAll, uintptr(unsafe.Pointer(&v[0])), 0, 0); e != 0 {
		return e
	}
	return nil
}

// MsgPeek returns the type and text of the message at index i of queue id
// without taking it (MSG_COPY), or ENOMSG past the last.
func MsgPeek(id, i, max int) (int64, []byte, error) {
	buf := make([]byte, 8+max)
	n, _, e := unix.Syscall6(unix.SYS_MSGRCV, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(max), uintptr(i),
		unix.IPC_NOWAIT|msgCopy, 0)
	if e != 0 {
		return 0, nil, e
	}
	return int64(binary.NativeEndian.Uint64(buf)), append([]byte(nil), buf[8:8+n]...), nil
}

// MsgSend queues a message of type typ and text b on queue id, without
// waiting.
func MsgSend(id int, typ int64, b []byte) error {
	buf := make([]byte, 8+len(b))
	binary.NativeEndian.PutUint64(buf, uint64(typ))
	copy(buf[8:], b)
	if _, _, e := unix.Syscall6(unix.SYS_MSGSND, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(b)), unix.IPC_NOWAIT, 0, 0); e != 0 {
		return e
	}
	return nil
}
