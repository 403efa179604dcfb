package agent

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"

	"stasis/namespace"
)

// serveRelayed hands our control socket to the outer cr_restart, which
// accepts on it (and on its own) and passes each connection to us with
// the peer's uid as it sees it (package namespace); we serve them as if
// we had accepted them. Clients still see us as the socket's owner.
func (a *Agent) serveRelayed() {
	if a.ln == nil {
		return // New said why: no control socket outside the namespace
	}
	raw, err := a.ln.File()
	if err == nil {
		err = a.cfg.Inside.HandOver(raw)
		raw.Close()
	}
	if err != nil {
		a.logf("control socket: %v", err)
		go a.serve(a.ln)
	}
	c, err := net.FileConn(a.cfg.Inside.Conns)
	if err != nil {
		a.logf("relayed connections: %v", err)
		return
	}
	uc := c.(*net.UnixConn)
	defer uc.Close()
	for {
		oob := make([]byte, unix.CmsgSpace(4))
		b := make([]byte, 4)
		n, oobn, _, _, err := uc.ReadMsgUnix(b, oob)
		if err != nil || n == 0 {
			return // the outer cr_restart is gone
		}
		uid := -1
		if n == 4 {
			uid = int(binary.LittleEndian.Uint32(b))
		}
		f := namespace.PassedFd(oob[:oobn], "relayed connection")
		if f == nil {
			continue
		}
		conn, err := net.FileConn(f)
		f.Close()
		if cu, ok := conn.(*net.UnixConn); err == nil && ok {
			go a.handle(cu, uid)
		} else if err == nil {
			conn.Close()
		}
	}
}
