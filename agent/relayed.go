package agent

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// serveRelayed serves the control connections that the outer cr_restart
// accepted on its socket and passed to us (package namespace), as if we
// had accepted them.
func (a *Agent) serveRelayed() {
	c, err := net.FileConn(a.cfg.Inside.Conns)
	if err != nil {
		a.logf("relayed connections: %v", err)
		return
	}
	uc := c.(*net.UnixConn)
	defer uc.Close()
	for {
		oob := make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := uc.ReadMsgUnix(make([]byte, 1), oob)
		if err != nil || n == 0 {
			return // the outer cr_restart is gone
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			continue
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			continue
		}
		f := fileOf(fds[0])
		conn, err := net.FileConn(f)
		f.Close()
		if cu, ok := conn.(*net.UnixConn); err == nil && ok {
			go a.handle(cu)
		} else if err == nil {
			conn.Close()
		}
	}
}

func fileOf(fd int) *os.File { return os.NewFile(uintptr(fd), "relayed connection") }
