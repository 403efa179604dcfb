package control

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/proc"
	"stasis/internal/sockdiag"
)

// A libcr process that runs under no agent listens on
//
//	@stasis-libcr-PID-RANDOM
//
// (PID its own pid, RANDOM 128 random bits), and cr_checkpoint, taking a
// checkpoint without an agent, plays the agent's part on it: the same
// messages, the same checks of the peer (docs/libcr-protocol.md).
const libcrPrefix = "stasis-libcr-"

// LibcrPrefix is how a libcr listener's name begins, "@" included: an
// image records such a listener under a new random name, so that its
// restart never clashes with the original, still running.
const LibcrPrefix = "@" + libcrPrefix

// Direct is cr_checkpoint's side of the libcr processes of one checkpoint
// taken without an agent.
type Direct struct {
	conns []*directConn
	// Fds are, by pid, the fds of the processes' ends of our connections:
	// the checkpointer records them as libcr's agent connections.
	Fds map[int]map[int]bool
}

type directConn struct {
	c   *Conn
	pid int
}

// Prepare finds the libcr listeners of pids, connects to each, sends ev
// (EvPrepare) and collects the answers, for at most wait, as the agent
// does (timed: wait is the request's --time). It returns the processes
// that asked to be left out and, for a cancelled checkpoint,
// cr_checkpoint's exit status with the reason; the caller then calls Done
// either way.
func Prepare(pids []int, ev Event, wait time.Duration, timed bool) (d *Direct, omitted map[int]bool, status int, err error) {
	d = &Direct{Fds: map[int]map[int]bool{}}
	omitted = map[int]bool{}
	socks, err := sockdiag.UnixSockets()
	if err != nil {
		return d, omitted, 1, fmt.Errorf("find libcr processes: %w", err)
	}
	deadline := time.Now().Add(wait)
	for _, pid := range pids {
		for _, s := range libcrListeners(socks, pid) {
			dc, fd, err := hello(s, pid, deadline)
			if err != nil {
				continue // not a libcr process of ours: checkpointed as it is
			}
			d.conns = append(d.conns, dc)
			if d.Fds[pid] == nil {
				d.Fds[pid] = map[int]bool{}
			}
			d.Fds[pid][fd] = true
			break
		}
	}
	answers := make(chan answer, len(d.conns))
	for _, dc := range d.conns {
		e := ev
		e.ID = 1
		if err := dc.c.Send(e); err != nil {
			answers <- answer{pid: dc.pid, gone: true}
			continue
		}
		go func() {
			var req Request
			err := dc.c.Recv(&req)
			answers <- answer{pid: dc.pid, req: req, gone: err != nil}
		}()
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	waiting := map[int]bool{}
	for _, dc := range d.conns {
		waiting[dc.pid] = true
	}
	for left := len(d.conns); left > 0; left-- {
		select {
		case a := <-answers:
			delete(waiting, a.pid)
			switch {
			case a.gone:
			case a.req.Op == OpOmit:
				omitted[a.pid] = true
			case a.req.Op == OpTempFail:
				status, err = StatusTempFail, &Cancelled{Msg: fmt.Sprintf("pid %d: checkpoint cancelled by the application: try again later%s", a.pid, why(a.req.Msg)), Code: a.req.Code}
			case a.req.Op == OpPermFail && status != StatusTempFail:
				status, err = StatusPermFail, &Cancelled{Msg: fmt.Sprintf("pid %d: checkpoint cancelled by the application: unable to checkpoint%s; its processes are killed", a.pid, why(a.req.Msg)), Code: a.req.Code}
			}
		case <-timer.C:
			for pid := range waiting {
				status, err = Late(pid, wait, timed)
				break
			}
			return d, omitted, status, err
		}
	}
	return d, omitted, status, err
}

// Late is the failure of a checkpoint whose libcr process pid did not
// answer within wait: a timeout if wait was the request's --time (status
// 110, as when the image takes too long), else a temporary failure.
func Late(pid int, wait time.Duration, timed bool) (int, error) {
	if timed {
		return StatusTimeout, fmt.Errorf("pid %d: its libcr callbacks did not answer within %v: the checkpoint took longer than allowed (-t): abandoned, the processes run on", pid, wait)
	}
	return StatusTempFail, fmt.Errorf("pid %d: its libcr callbacks did not answer within %v: try again later", pid, wait)
}

type answer struct {
	pid  int
	req  Request
	gone bool
}

func why(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

// Done tells every process how the checkpoint ended (status: the exit
// status for err) and closes the connections.
func (d *Direct) Done(path string, status int, err error) {
	ev := Event{Ev: EvDone, ID: 1, Path: path}
	if err != nil {
		r := Failed(status, err)
		ev.Error, ev.Status, ev.Code = r.Error, r.Status, r.Code
	}
	for _, dc := range d.conns {
		dc.c.Send(ev)
		dc.c.Close()
	}
}

// LibcrListening lists the pids named by the libcr listeners of our
// network namespace: a checkpoint of none of them has no callbacks to run,
// and needs no more looking.
func LibcrListening() (map[int]bool, error) {
	socks, err := sockdiag.UnixSockets()
	if err != nil {
		return nil, fmt.Errorf("find libcr processes: %w", err)
	}
	out := map[int]bool{}
	for _, s := range socks {
		rest, ok := strings.CutPrefix(s.Name, "\x00"+libcrPrefix)
		if ok && s.State == sockdiag.StateListen {
			pid, _, _ := strings.Cut(rest, "-")
			if n, err := strconv.Atoi(pid); err == nil {
				out[n] = true
			}
		}
	}
	return out, nil
}

// libcrListeners lists the listening sockets named like pid's libcr
// listener that pid holds (all of them, where we may not look: each is
// checked by dial's rules anyway).
func libcrListeners(socks map[uint64]*sockdiag.Unix, pid int) []sock {
	p := "\x00" + libcrPrefix + strconv.Itoa(pid) + "-"
	var out []sock
	for ino, s := range socks {
		if s.State == sockdiag.StateListen && strings.HasPrefix(s.Name, p) {
			out = append(out, sock{"@" + s.Name[1:], ino})
		}
	}
	if len(out) == 0 {
		return nil // the common case: no /proc/PID/fd to read
	}
	held, ok := heldSockets(pid)
	var mine []sock
	for _, s := range out {
		if !ok || held[s.ino] {
			mine = append(mine, s)
		}
	}
	return mine
}

// hello connects to s, checks the listener is pid (with the uid it runs
// as, one we may talk to), reads its hello and checks that the fd it
// names is its end of this connection.
func hello(s sock, pid int, deadline time.Time) (*directConn, int, error) {
	c, err := connect(s, pid, func(cred unix.Ucred) error { return trust(s.name, cred, pid) })
	if err != nil {
		return nil, 0, err
	}
	tv := unix.NsecToTimeval(time.Until(deadline).Nanoseconds())
	unix.SetsockoptTimeval(c.Fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	var req Request
	err = c.Recv(&req)
	unix.SetsockoptTimeval(c.Fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{})
	if err == nil && req.Op != OpHello {
		err = fmt.Errorf("pid %d: %q before hello", pid, req.Op)
	}
	if err == nil {
		err = ownEnd(c.Fd, pid, req.Fd)
	}
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	return &directConn{c: c, pid: pid}, req.Fd, nil
}

// ownEnd checks that fd of pid is the other end of our socket mine.
func ownEnd(mine, pid, fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(mine, &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	socks, err := sockdiag.UnixSockets()
	if err != nil {
		return err
	}
	link, err := proc.FdLink(pid, fd)
	if s := socks[st.Ino]; err != nil || s == nil || link != fmt.Sprintf("socket:[%d]", s.Peer) {
		return fmt.Errorf("hello from pid %d: its fd %d (%s) is not this connection", pid, fd, link)
	}
	return nil
}

// ListenLibcr binds the listener of a libcr process that runs under no
// agent, @stasis-libcr-PID-RANDOM, as a plain blocking socket
// (close-on-exec): AcceptLibcr blocks an OS thread on it, as a read of a
// libcr connection does, so that a restarted copy's thread wakes up in the
// same call.
func ListenLibcr() (int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return -1, fmt.Errorf("libcr listener: random name: %w", err)
	}
	name := "@" + libcrPrefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("libcr listener %s: %w", name, err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// AcceptLibcr waits for the next cr_checkpoint on listener ln and returns
// its connection, whose peer runs as our user or as root (anyone else is
// hung up on).
func AcceptLibcr(ln int) (*Conn, error) {
	for {
		fd, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("accept4", err)
		}
		cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil || !Allowed(*cred, os.Geteuid()) {
			unix.Close(fd)
			continue
		}
		c := NewConn(fdConn(fd), *cred)
		c.Fd = fd
		return c, nil
	}
}
