package checkpoint

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/mqueue"
)

// mqueueMagic is the mqueue file system's statfs type (MQUEUE_MAGIC).
const mqueueMagic = 0x19800202

// isMqueue reports whether fd n of pid is open on a POSIX message queue: a file of the mqueue file system, which
// /proc shows as "/NAME".
func isMqueue(pid, n int) bool {
	var fs unix.Statfs_t
	return unix.Statfs(fmt.Sprintf("/proc/%d/fd/%d", pid, n), &fs) == nil && fs.Type == mqueueMagic
}

// describeMqueue completes f, fd n of pid open on the POSIX message queue
// name, with the queue's owner, limits and messages, read through a
// description of our own (so the fd's flags are left alone) by a helper
// that queues each message again (package mqueue). A queue with an
// mq_notify registration is refused: reading it would fire it.
func describeMqueue(f image.Fd, pid, n int, name string, st *unix.Stat_t) (image.Fd, error) {
	what := fmt.Sprintf("pid %d fd %d: POSIX message queue %s", pid, n, name)
	if gone, ok := strings.CutSuffix(name, " (deleted)"); ok {
		// Nothing could find it again by name but a restart that made
		// it and removed it, which none does yet.
		return f, fmt.Errorf("pid %d fd %d: POSIX message queue %s, removed (mq_unlink) while open: not checkpointable", pid, n, gone)
	}
	q, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/%d", pid, n), os.O_RDWR, 0)
	if err != nil {
		return f, fmt.Errorf("%s: open it to read its messages: %w: not checkpointable", what, err)
	}
	defer q.Close()
	notify, err := mqueue.NotifyPid(q)
	if err != nil {
		return f, fmt.Errorf("%s: %w", what, err)
	}
	if notify != 0 {
		return f, fmt.Errorf("%s: mq_notify registration (by pid %d): not checkpointable", what, notify)
	}
	attr, err := kernel.MqGetAttr(int(q.Fd()))
	if err != nil {
		return f, fmt.Errorf("%s: %w", what, err)
	}
	msgs, err := mqueue.Read(q)
	if err != nil {
		return f, fmt.Errorf("%s: read its messages: %w: not checkpointable", what, err)
	}
	f.Kind, f.Path, f.Mode = image.FdMqueue, name, st.Mode
	f.Mqueue = &image.Mqueue{Uid: int(st.Uid), Gid: int(st.Gid), MaxMsg: attr.MaxMsg, MsgSize: attr.MsgSize}
	for _, m := range msgs {
		f.Mqueue.Messages = append(f.Mqueue.Messages, image.MqMessage{Prio: m.Prio, Data: m.Data})
	}
	return f, nil
}
