package restart

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/mqueue"
)

// mqueue opens in the process the POSIX message queue f is open on, by
// name, with the fd's access mode and O_NONBLOCK, and returns the fd. The
// first fd of a queue in the restore makes the queue again if it is gone:
// with its permissions, owner, limits and messages. A queue that still
// exists (a checkpoint with --run, restarted while the original lives)
// is used as it is if it holds what the image holds, and is refused
// otherwise: the restarted program would get messages it never had, or
// miss its own.
//
// Precondition: called on the owner thread.
func (b *builder) mqueue(f *image.Fd) (uint64, error) {
	m := f.Mqueue
	if m == nil || len(f.Path) < 2 || f.Path[0] != '/' || strings.Contains(f.Path[1:], "/") {
		return 0, fmt.Errorf("POSIX message queue without its description: image damaged")
	}
	name := b.scratch + 256
	if err := b.mem.WriteAt(append([]byte(f.Path[1:]), 0), name); err != nil { // mq_open takes it without the slash
		return 0, err
	}
	if !b.shared.mq[f.Path] {
		if err := b.makeQueue(f, name); err != nil {
			return 0, fmt.Errorf("POSIX message queue %s: %w", f.Path, err)
		}
		b.shared.mq[f.Path] = true
	}
	flags := uint64(f.Flags & (unix.O_ACCMODE | unix.O_NONBLOCK | unix.O_CLOEXEC))
	fd, err := b.call(unix.SYS_MQ_OPEN, name, flags, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("POSIX message queue %s: mq_open: %w", f.Path, err)
	}
	return fd, nil
}

// makeQueue makes the queue f is open on, whose name (without its slash)
// is at name in the process, or checks the one that exists.
//
// Precondition: called on the owner thread.
func (b *builder) makeQueue(f *image.Fd, name uint64) error {
	m := f.Mqueue
	attr := make([]byte, 64) // struct mq_attr
	le.PutUint64(attr[8:], uint64(m.MaxMsg))
	le.PutUint64(attr[16:], uint64(m.MsgSize))
	if err := b.mem.WriteAt(attr, b.scratch); err != nil {
		return err
	}
	fd, err := b.call(unix.SYS_MQ_OPEN, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NONBLOCK|unix.O_CLOEXEC, uint64(f.Mode&0o777), b.scratch)
	if errors.Is(err, unix.EEXIST) {
		return b.sameQueue(f, name)
	}
	if err != nil {
		hint := ""
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EMFILE) {
			hint = " (limits: /proc/sys/fs/mqueue/msg_max, msgsize_max, RLIMIT_MSGQUEUE)"
		}
		return fmt.Errorf("make it again (%d messages of up to %d bytes): mq_open: %w%s", m.MaxMsg, m.MsgSize, err, hint)
	}
	defer b.call(unix.SYS_CLOSE, fd)
	// The umask took bits off; and we may not be its owner yet.
	if _, err := b.call(unix.SYS_FCHMOD, fd, uint64(f.Mode&0o777)); err != nil {
		return fmt.Errorf("fchmod: %w", err)
	}
	if _, err := b.call(unix.SYS_FCHOWN, fd, uint64(m.Uid), uint64(m.Gid)); err != nil && (m.Uid != b.p.Creds.Uid[3] || m.Gid != b.p.Creds.Gid[3]) {
		return fmt.Errorf("give it to uid %d gid %d: %w", m.Uid, m.Gid, err)
	}
	q, err := kernel.TakeFd(b.pid, int(fd), f.Path)
	if err != nil {
		return err
	}
	defer q.Close()
	for i, msg := range m.Messages {
		if err := kernel.MqSend(int(q.Fd()), msg.Data, msg.Prio, time.Time{}); err != nil {
			return fmt.Errorf("queue message %d of %d again: %w", i+1, len(m.Messages), err)
		}
	}
	return nil
}

// sameQueue checks that the queue that exists at name holds what the
// image has: the same limits, and the same messages in the same order
// (read without losing them, package mqueue).
//
// Precondition: called on the owner thread.
func (b *builder) sameQueue(f *image.Fd, name uint64) error {
	m := f.Mqueue
	remove := fmt.Sprintf("; remove it (mq_unlink(\"%s\"), or rm /dev/mqueue%s where mounted) to restart with the image's copy", f.Path, f.Path)
	fd, err := b.call(unix.SYS_MQ_OPEN, name, unix.O_RDWR|unix.O_CLOEXEC, 0, 0)
	if err != nil {
		return fmt.Errorf("exists, and cannot be compared with the image's: mq_open: %w%s", err, remove)
	}
	defer b.call(unix.SYS_CLOSE, fd)
	q, err := kernel.TakeFd(b.pid, int(fd), f.Path)
	if err != nil {
		return err
	}
	defer q.Close()
	attr, err := kernel.MqGetAttr(int(q.Fd()))
	if err != nil {
		return err
	}
	if attr.MaxMsg != m.MaxMsg || attr.MsgSize != m.MsgSize {
		return fmt.Errorf("exists with other limits (%d messages of up to %d bytes; the image has %d of %d)%s", attr.MaxMsg, attr.MsgSize, m.MaxMsg, m.MsgSize, remove)
	}
	if attr.CurMsgs == 0 && len(m.Messages) == 0 {
		return nil
	}
	if pid, err := mqueue.NotifyPid(q); err != nil || pid != 0 {
		return fmt.Errorf("exists, with an mq_notify registration (pid %d) that comparing it would fire%s", pid, remove)
	}
	msgs, err := mqueue.Read(q)
	if err != nil {
		return fmt.Errorf("exists; read its messages: %w%s", err, remove)
	}
	same := slices.EqualFunc(msgs, m.Messages, func(a mqueue.Message, b image.MqMessage) bool {
		return a.Prio == b.Prio && string(a.Data) == string(b.Data)
	})
	if !same {
		return fmt.Errorf("exists with other messages (%d queued; the image has %d)%s", len(msgs), len(m.Messages), remove)
	}
	return nil
}
