package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
)

// peekQueue reads the messages waiting on the socket of o without taking
// them: on a duplicate (pidfd_getfd), MSG_PEEK with a peek offset that
// walks the queue, which is put back to its default afterwards. The files
// passed with a message (SCM_RIGHTS), which peeking passes to us too,
// are described by passedFiles, among all the fds of the set; the
// credentials a receiver with SO_PASSCRED gets with each (SCM_CREDENTIALS)
// are kept when their sender is one of the processes live.
func peekQueue(o openFd, all []openFd, live map[int]bool) ([][]byte, [][]image.PassedFile, []image.Ucred, error) {
	dup, err := kernel.TakeFd(o.pid, o.fd, o.link)
	if err != nil {
		return nil, nil, nil, err
	}
	defer dup.Close()
	fd := int(dup.Fd())
	fail := func(err error) ([][]byte, [][]image.PassedFile, []image.Ucred, error) {
		return nil, nil, nil, fmt.Errorf("pid %d fd %d (%s): its queue: %w", o.pid, o.fd, o.link, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0); err != nil {
		return fail(err)
	}
	defer unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, -1)
	var q [][]byte
	var passed [][]image.PassedFile
	var creds []image.Ucred
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(4*253)+unix.CmsgSpace(unix.SizeofUcred))
	for len(q) < 1<<16 {
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_PEEK|unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EAGAIN) || err == nil && n == 0 && oobn == 0 {
			if len(creds) != 0 && len(creds) != len(q) {
				return fail(fmt.Errorf("%d of its %d messages carry credentials (SO_PASSCRED changed while they waited?): not supported", len(creds), len(q)))
			}
			return q, passed, creds, nil
		}
		if err != nil {
			return fail(err)
		}
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
			return fail(fmt.Errorf("a message longer than %d bytes, or carrying more than 253 files", len(buf)))
		}
		var files []image.PassedFile
		var cred *unix.Ucred
		if oobn > 0 {
			if files, cred, err = passedFiles(oob[:oobn], all); err != nil {
				return fail(fmt.Errorf("message %d: %w", len(q)+1, err))
			}
		}
		if cred != nil {
			if !live[int(cred.Pid)] {
				return fail(fmt.Errorf("message %d: its sender, pid %d as its credentials (SO_PASSCRED) name it, is not a live process of the checkpoint (it has exited, or is outside it): a restart could not give the receiver the same credentials", len(q)+1, cred.Pid))
			}
			creds = append(creds, image.Ucred{Pid: int(cred.Pid), Uid: int(cred.Uid), Gid: int(cred.Gid)})
		}
		if len(files) > 0 {
			for len(passed) < len(q) {
				passed = append(passed, nil)
			}
			passed = append(passed, files)
		}
		q = append(q, append([]byte(nil), buf[:n]...))
	}
	return fail(fmt.Errorf("more than %d messages", 1<<16))
}

// passedFiles describes the files of the control messages oob, which
// peeking passed to us and which it closes, and returns the credentials
// among them. A file that is the open file description of an fd of the
// set (all) is that fd, sent again as it is restored; any other regular
// file or directory is kept by path, status flags and offset. Anything
// else in flight cannot be made again, and is refused by name.
func passedFiles(oob []byte, all []openFd) ([]image.PassedFile, *unix.Ucred, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, nil, err
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_PIDFD && len(m.Data) >= 4 {
			// Peeking gave us the sender's pidfd too.
			unix.Close(int(int32(binary.NativeEndian.Uint32(m.Data))))
		}
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_RIGHTS {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return nil, nil, err
			}
			fds = append(fds, got...)
		}
	}
	var cred *unix.Ucred
	for _, m := range msgs {
		switch {
		case m.Header.Level != unix.SOL_SOCKET:
		case m.Header.Type == unix.SCM_RIGHTS:
			continue
		case m.Header.Type == unix.SCM_CREDENTIALS:
			if cred, err = unix.ParseUnixCredentials(&m); err != nil {
				return nil, nil, err
			}
			continue
		case m.Header.Type == unix.SCM_PIDFD:
			return nil, nil, fmt.Errorf("it carries its sender's pidfd (SCM_PIDFD: the receiver set SO_PASSPIDFD): not supported yet")
		}
		return nil, nil, fmt.Errorf("it carries a control message of level %d type %d: not supported yet", m.Header.Level, m.Header.Type)
	}
	var out []image.PassedFile
	for _, fd := range fds {
		link, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if h, ok := holder(fd, link, all); ok {
			out = append(out, image.PassedFile{Same: &image.FdRef{Pid: h.pid, Fd: h.fd}})
			continue
		}
		pf, err := passedByPath(fd, link)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, pf)
	}
	return out, cred, nil
}

// holder finds an fd of the set that is the open file description of our
// fd, whose link is link.
func holder(fd int, link string, all []openFd) (openFd, bool) {
	self := openFd{pid: os.Getpid(), fd: fd, link: link}
	for _, o := range all {
		if o.link == link && sameFile(self, o) {
			return o, true
		}
	}
	return openFd{}, false
}

// passedByPath describes a file in flight that no process of the set
// holds: a regular file or directory its path still names; anything else
// is refused.
func passedByPath(fd int, link string) (image.PassedFile, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return image.PassedFile{}, fmt.Errorf("a passed file (%s): %w", link, os.NewSyscallError("fstat", err))
	}
	if m := st.Mode & unix.S_IFMT; m != unix.S_IFREG && m != unix.S_IFDIR {
		return image.PassedFile{}, fmt.Errorf("it passes %s, which no process of the checkpoint holds, and a restart cannot make again (stasis makes again in flight what a process holds too, and regular files and directories): not supported yet", link)
	}
	var cur unix.Stat_t
	if !strings.HasPrefix(link, "/") || unix.Stat(link, &cur) != nil || cur.Dev != st.Dev || cur.Ino != st.Ino {
		return image.PassedFile{}, fmt.Errorf("it passes %s, which its path no longer names: not supported", link)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return image.PassedFile{}, fmt.Errorf("a passed file (%s): %w", link, err)
	}
	pos, err := unix.Seek(fd, 0, 1)
	if err != nil {
		return image.PassedFile{}, fmt.Errorf("a passed file (%s): %w", link, err)
	}
	return image.PassedFile{Path: link, Flags: flags &^ unix.O_CLOEXEC, Pos: pos}, nil
}
