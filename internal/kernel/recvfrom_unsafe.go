package kernel

import (
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PeekFrom reads the next message waiting on the unix socket fd without
// taking it (recvmsg with MSG_PEEK|MSG_DONTWAIT, so at the socket's peek
// offset), into buf, with no room for control messages. It returns the
// message's length, its sender's name exactly as the kernel keeps it (""
// for an unnamed sender, a leading 0 byte for an abstract name, which may
// hold more 0 bytes; a path without its terminating 0) and the flags
// recvmsg gave (MSG_TRUNC: buf was too short; MSG_CTRUNC: the message
// carries control messages, files or credentials). x/sys/unix cannot
// tell an unnamed sender from an abstract name that is empty, nor keep
// an abstract name past a 0 byte.
func PeekFrom(fd int, buf []byte) (n int, from string, flags int, err error) {
	if len(buf) == 0 {
		return 0, "", 0, unix.EINVAL
	}
	var name unix.RawSockaddrUnix
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	for {
		msg := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&name)), Namelen: uint32(unsafe.Sizeof(name)), Iov: &iov, Iovlen: 1}
		r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, "", 0, syserr("recvmsg", e)
		}
		const pathAt = uint32(unsafe.Offsetof(name.Path))
		if msg.Namelen > pathAt && msg.Namelen <= uint32(unsafe.Sizeof(name)) {
			p := unsafe.Slice((*byte)(unsafe.Pointer(&name.Path[0])), msg.Namelen-pathAt)
			from = string(p)
			if from[0] != 0 {
				from, _, _ = strings.Cut(from, "\x00")
			}
		}
		return int(r), from, int(msg.Flags), nil
	}
}
