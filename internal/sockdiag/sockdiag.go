// Package sockdiag asks the kernel (NETLINK_SOCK_DIAG) what it knows of
// the unix sockets of the system: their type and state, the inode of the
// peer a connected socket talks to, the name a socket is bound to, and
// which directions are shut down. The checkpoint uses it to tell a socket
// pair inside an image from one that leads outside.
package sockdiag

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Unix is one unix socket.
type Unix struct {
	Ino      uint64
	Type     int    // unix.SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
	State    int    // 1: connected (TCP_ESTABLISHED), 10: listening, 7: unconnected
	Peer     uint64 // the peer's inode, 0 if none
	Name     string // bound name ("" unbound; a leading 0 byte: abstract)
	Shutdown int    // RCV_SHUTDOWN 1, SEND_SHUTDOWN 2
	// VfsIno and VfsDev are the socket file's, for one bound to a path.
	VfsIno uint64
	VfsDev uint32
	// Rqueue and Wqueue: for a listening socket, the connections waiting
	// to be accepted and the backlog; otherwise the bytes queued.
	Rqueue, Wqueue uint32
}

// Connected states of a unix socket.
const (
	StateConnected = 1
	StateListen    = 10
)

const (
	sockDiagByFamily = 20
	udiagShowName    = 0x01
	udiagShowVfs     = 0x02
	udiagShowPeer    = 0x04
	udiagShowRqlen   = 0x10
	attrName         = 0
	attrVfs          = 1
	attrPeer         = 2
	attrRqlen        = 4
	attrShutdown     = 6
)

var le = binary.LittleEndian

// UnixSockets returns every unix socket of our network namespace, by inode.
func UnixSockets() (map[uint64]*Unix, error) {
	req := make([]byte, 24)
	req[0] = unix.AF_UNIX
	le.PutUint32(req[4:], 0xffffffff) // every state
	le.PutUint32(req[12:], udiagShowName|udiagShowVfs|udiagShowPeer|udiagShowRqlen)
	out := map[uint64]*Unix{}
	err := dump(req, func(msg []byte) error {
		u, err := parseUnix(msg)
		if err == nil {
			out[u.Ino] = u
		}
		return err
	})
	return out, err
}

// dump sends one sock_diag dump request (the body after the netlink
// header) and hands each answer's body to each.
func dump(body []byte, each func(msg []byte) error) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return os.NewSyscallError("socket(NETLINK_SOCK_DIAG)", err)
	}
	defer unix.Close(fd)
	req := make([]byte, 16+len(body))
	le.PutUint32(req[0:], uint32(len(req)))
	le.PutUint16(req[4:], sockDiagByFamily)
	le.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	le.PutUint32(req[8:], 1)
	copy(req[16:], body)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto(NETLINK_SOCK_DIAG)", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("recvfrom(NETLINK_SOCK_DIAG)", err)
		}
		done, err := parse(buf[:n], each)
		if err != nil || done {
			return err
		}
	}
}

// parse reads one batch of netlink messages, handing each answer to
// each; done at NLMSG_DONE.
func parse(b []byte, each func(msg []byte) error) (done bool, err error) {
	for len(b) >= 16 {
		l := int(le.Uint32(b))
		if l < 16 || l > len(b) {
			return false, fmt.Errorf("sock_diag: message of %d bytes in %d", l, len(b))
		}
		msg := b[16:l]
		switch le.Uint16(b[4:]) {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(msg) >= 4 && int32(le.Uint32(msg)) != 0 {
				return false, os.NewSyscallError("sock_diag", unix.Errno(-int32(le.Uint32(msg))))
			}
		case sockDiagByFamily:
			if err := each(msg); err != nil {
				return false, err
			}
		}
		b = b[(l+3)&^3:]
	}
	return false, nil
}

// parseUnix reads a unix_diag_msg and its attributes.
func parseUnix(msg []byte) (*Unix, error) {
	if len(msg) < 16 {
		return nil, fmt.Errorf("sock_diag: short unix_diag_msg")
	}
	u := &Unix{Type: int(msg[1]), State: int(msg[2]), Ino: uint64(le.Uint32(msg[4:]))}
	for a := msg[16:]; len(a) >= 4; {
		al := int(le.Uint16(a))
		if al < 4 || al > len(a) {
			break
		}
		data := a[4:al]
		switch le.Uint16(a[2:]) {
		case attrName:
			u.Name = string(data)
			if u.Name != "" && u.Name[0] != 0 { // a path, which may carry its NUL
				u.Name = strings.TrimRight(u.Name, "\x00")
			}
		case attrVfs:
			if len(data) >= 8 {
				u.VfsIno, u.VfsDev = uint64(le.Uint32(data)), le.Uint32(data[4:])
			}
		case attrPeer:
			if len(data) >= 4 {
				u.Peer = uint64(le.Uint32(data))
			}
		case attrRqlen:
			if len(data) >= 8 {
				u.Rqueue, u.Wqueue = le.Uint32(data), le.Uint32(data[4:])
			}
		case attrShutdown:
			if len(data) >= 1 {
				u.Shutdown = int(data[0])
			}
		}
		step := (al + 3) &^ 3
		if step > len(a) {
			break
		}
		a = a[step:]
	}
	return u, nil
}
