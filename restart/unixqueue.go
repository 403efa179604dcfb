package restart

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
)

// queueFill is a socket queue of the image to refill, from peer, once
// every process has its fds: a file passed in it may be the open file
// description of an fd of any of them, and the sender whose credentials
// a message carries must exist.
type queueFill struct {
	who  string // the receiving end: "pid P fd N", as the image numbers them
	peer *os.File
	sk   *image.Socket
	own  bool // peer is ours alone: closed once the queue is sent
}

// fillQueues sends again the messages that waited in the socket queues
// of the image, now that every process of it (byPid, by the image's
// pids) exists with its fds.
func (s *shared) fillQueues(byPid map[int]*builder) error {
	defer func() {
		for _, q := range s.fills {
			if q.own {
				q.peer.Close()
			}
		}
		s.fills = nil
	}()
	for _, q := range s.fills {
		if n := len(q.sk.Creds); n != 0 && n != len(q.sk.Queue) {
			return fmt.Errorf("%s (socket %d): %d credentials for %d queued messages: image damaged", q.who, q.sk.Ino, n, len(q.sk.Queue))
		}
		for i := range q.sk.Queue {
			if err := sendQueued(int(q.peer.Fd()), q.sk, i, byPid); err != nil {
				return fmt.Errorf("%s (socket %d): refill its queue: message %d: %w", q.who, q.sk.Ino, i+1, err)
			}
		}
	}
	return nil
}

// sendQueued writes message i of sk's queue to peer, with the files that
// were passed with it (the open file description of an fd of a process
// of byPid, or a file opened again by path as the restart at its saved
// offset) and its sender's credentials, as the restored process of the
// image's pid has them.
func sendQueued(peer int, sk *image.Socket, i int, byPid map[int]*builder) error {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var fds []int
	if i < len(sk.Passed) {
		for _, pf := range sk.Passed[i] {
			f, err := passedFile(pf, byPid)
			if err != nil {
				return err
			}
			files = append(files, f)
			fds = append(fds, int(f.Fd()))
		}
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if len(sk.Creds) > 0 {
		c := sk.Creds[i]
		sender := byPid[c.Pid]
		if sender == nil {
			return fmt.Errorf("its sender, pid %d, is not a process of the image: image damaged", c.Pid)
		}
		oob = append(oob, unix.UnixCredentials(&unix.Ucred{Pid: int32(sender.pid), Uid: uint32(c.Uid), Gid: uint32(c.Gid)})...)
	}
	// Never blocking: a queue that does not fit again fails the restart.
	err := unix.Sendmsg(peer, sk.Queue[i], oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	if err != nil && len(sk.Creds) > 0 {
		c := sk.Creds[i]
		// scm_check_creds: the ids must be mapped in our user namespace;
		// another process's pid needs CAP_SYS_ADMIN over our pid
		// namespace, other ids CAP_SETUID and CAP_SETGID.
		hint := ""
		switch {
		case errors.Is(err, unix.EPERM):
			hint = " (only root, or an ordinary user in a pid and user namespace of its own, may give a message another process's credentials: restart without --no-restore-pid)"
		case errors.Is(err, unix.EINVAL):
			hint = " (the uid or gid has no name in cr_restart's user namespace, which maps only the user's own)"
		}
		return fmt.Errorf("sendmsg with its sender's credentials (pid %d, here %d; uid %d gid %d): %w%s", c.Pid, byPid[c.Pid].pid, c.Uid, c.Gid, err, hint)
	}
	return os.NewSyscallError("sendmsg", err)
}

// passedFile makes again the file pf in flight: the restored open file
// description of an fd of a process of byPid, or the file opened again by
// path.
func passedFile(pf image.PassedFile, byPid map[int]*builder) (*os.File, error) {
	if ref := pf.Same; ref != nil {
		b := byPid[ref.Pid]
		if b == nil || !hasFd(b.p, ref.Fd) {
			return nil, fmt.Errorf("a file in flight, that of pid %d fd %d, which the image does not hold: image damaged", ref.Pid, ref.Fd)
		}
		return kernel.TakeFd(b.pid, ref.Fd, "in flight")
	}
	if pf.Path == "" {
		return nil, fmt.Errorf("a file in flight with neither a path nor an fd: image damaged")
	}
	fd, err := unix.Open(pf.Path, pf.Flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_TRUNC|unix.O_NOCTTY)|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s, passed in the queue: %w", pf.Path, err)
	}
	f := os.NewFile(uintptr(fd), pf.Path)
	if pf.Pos != 0 {
		if _, err := unix.Seek(fd, pf.Pos, 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s, passed in the queue: lseek: %w", pf.Path, err)
		}
	}
	return f, nil
}

// hasFd says whether p has the fd num.
func hasFd(p *image.Process, num int) bool {
	for _, f := range p.Fds {
		if f.Num == num {
			return true
		}
	}
	return false
}
