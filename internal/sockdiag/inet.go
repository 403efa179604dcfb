package sockdiag

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Listener is a listening TCP socket as sock_diag shows it.
type Listener struct {
	Ino     uint64
	Backlog uint32 // listen()'s backlog, as the kernel capped it
	Waiting uint32 // connections waiting to be accepted
}

const tcpListen = 10 // TCP_LISTEN

// TCPListeners returns the listening TCP sockets of family (AF_INET or
// AF_INET6) in our network namespace, by inode.
func TCPListeners(family int) (map[uint64]*Listener, error) {
	// struct inet_diag_req_v2: family, protocol, ext, pad, states, and
	// a zero inet_diag_sockid (48 bytes) that matches all.
	req := make([]byte, 56)
	req[0], req[1] = byte(family), unix.IPPROTO_TCP
	le.PutUint32(req[4:], 1<<tcpListen)
	out := map[uint64]*Listener{}
	err := dump(req, func(msg []byte) error {
		// struct inet_diag_msg: family, state, timer, retrans, sockid
		// (48), expires, rqueue, wqueue, uid, inode.
		if len(msg) < 72 {
			return fmt.Errorf("sock_diag: short inet_diag_msg")
		}
		if msg[1] == tcpListen {
			l := &Listener{Waiting: le.Uint32(msg[56:]), Backlog: le.Uint32(msg[60:]), Ino: uint64(le.Uint32(msg[68:]))}
			out[l.Ino] = l
		}
		return nil
	})
	return out, err
}
