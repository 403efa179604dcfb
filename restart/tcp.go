package restart

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/netlock"
	"stasis/internal/sockopt"
)

// TCP repair's queues and TCP_REPAIR_OPTIONS' option codes.
const (
	tcpRecvQueue = 1
	tcpSendQueue = 2

	tcpoptMSS       = 2
	tcpoptWindow    = 3
	tcpoptSACKPerm  = 4
	tcpoptTimestamp = 8
)

// tcpConn makes an established TCP connection again, in the process, in
// repair mode: its queues' sequence numbers, bind and connect (which in
// repair mode send nothing), what was negotiated, the bytes of both
// queues, the windows. It stays in repair mode, silent, until every
// process is built (shared.leaveRepair), so that its peer, which may not
// exist yet, hears nothing from it before.
//
// Precondition: called on the owner thread.
func (b *builder) tcpConn(f *image.Fd) (uint64, error) {
	c := f.TCP
	if c == nil {
		return 0, fmt.Errorf("TCP connection without its description: image damaged")
	}
	if c.Outside && c.Lock != "" {
		b.shared.lock(c.Lock, b.pid, !b.opt.TCPClose)
	}
	if c.Closed || c.Outside && b.opt.TCPClose {
		if c.Outside && !c.Closed && c.Lock != "" {
			b.shared.resets = append(b.shared.resets, outsideReset{b.pid, c})
		}
		return b.resetConn(f)
	}
	local, err := sockaddr(&image.Listener{Family: c.Family, Addr: c.Local})
	if err != nil || local == nil {
		return 0, fmt.Errorf("local address %q: image damaged", c.Local)
	}
	peer, err := sockaddr(&image.Listener{Family: c.Family, Addr: c.Peer})
	if err != nil || peer == nil {
		return 0, fmt.Errorf("peer address %q: image damaged", c.Peer)
	}
	flags := uint64(unix.SOCK_CLOEXEC)
	if f.Flags&unix.O_NONBLOCK != 0 {
		flags |= unix.SOCK_NONBLOCK
	}
	fd, err := b.call(unix.SYS_SOCKET, uint64(c.Family), unix.SOCK_STREAM|flags, 0)
	if err != nil {
		return 0, fmt.Errorf("socket: %w", err)
	}
	if err := b.repairConn(fd, c, local, peer); err != nil {
		b.call(unix.SYS_CLOSE, fd)
		what := "tcp " + c.Local + " connected to " + c.Peer
		switch {
		case errors.Is(err, errNoRepair) && c.Outside:
			return 0, fmt.Errorf("%s: %w, or with --tcp-close to have it come back reset (its peer is outside the image)", what, err)
		case errors.Is(err, unix.EADDRNOTAVAIL) && c.Outside:
			return 0, fmt.Errorf("%s: the connection is in use (by the checkpointed process itself, still running after a --run checkpoint?): made again beside it, two sockets would answer for it; end that one first, or restart with --tcp-close (%w)", what, err)
		case errors.Is(err, unix.EADDRNOTAVAIL):
			return 0, fmt.Errorf("%s: the connection is in use (by the checkpointed process itself, still running after a --run checkpoint?): end that one first (%w)", what, err)
		}
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	ours, err := kernel.TakeFd(b.pid, int(fd), "tcp "+c.Local)
	if err != nil {
		b.call(unix.SYS_CLOSE, fd)
		return 0, err
	}
	b.shared.tcp = append(b.shared.tcp, repairing{ours, reuseAddr(c)})
	return fd, nil
}

// errNoRepair: TCP_REPAIR was refused.
var errNoRepair = errors.New("restoring a TCP connection needs CAP_NET_ADMIN (TCP_REPAIR): restart as root")

// repairing is a TCP connection made in repair mode, and whether it had
// SO_REUSEADDR, which it gets back once out of it.
type repairing struct {
	f         *os.File
	reuseAddr bool
}

// reuseAddr tells whether c had SO_REUSEADDR set.
func reuseAddr(c *image.TCPConn) bool {
	for _, o := range c.Opts {
		if o.Level == unix.SOL_SOCKET && o.Name == unix.SO_REUSEADDR {
			return len(o.Value) > 0 && o.Value[0] != 0
		}
	}
	return false
}

// repairConn builds the connection c on fd in repair mode. In repair mode
// the kernel lets the bind through every other socket on the port
// (SK_FORCE_REUSE): through the server's listener, for a connection it
// accepted. Setting SO_REUSEADDR would take that away (a listener that
// has it too still blocks the bind), so it waits until the connection
// leaves repair mode, which clears it.
func (b *builder) repairConn(fd uint64, c *image.TCPConn, local, peer []byte) error {
	if err := b.setInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 1); err != nil {
		if errors.Is(err, unix.EPERM) {
			return errNoRepair
		}
		return fmt.Errorf("TCP_REPAIR: %w", err)
	}
	for _, o := range c.Opts {
		if o.Level == unix.SOL_SOCKET && o.Name == unix.SO_REUSEADDR {
			continue // set by leaveRepair
		}
		if name, size, ok := forcedBuffer(o, c); ok {
			if err := b.setInt(fd, unix.SOL_SOCKET, name, size); err != nil {
				return fmt.Errorf("setsockopt(SOL_SOCKET, %d, %d): %w", name, size, err)
			}
			continue
		}
		opt, ok := sockopt.Lookup(o.Level, o.Name)
		if !ok {
			return fmt.Errorf("socket option %d/%d: not one stasis saves: image damaged or altered", o.Level, o.Name)
		}
		if err := b.setOpt(fd, opt, o.Value); err != nil {
			return err
		}
	}
	for _, q := range []struct {
		queue int
		seq   uint32
	}{{tcpSendQueue, c.SendSeq}, {tcpRecvQueue, c.RecvSeq}} {
		if err := b.setInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, q.queue); err != nil {
			return fmt.Errorf("TCP_REPAIR_QUEUE: %w", err)
		}
		if err := b.setInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ, int(q.seq)); err != nil {
			return fmt.Errorf("TCP_QUEUE_SEQ: %w", err)
		}
	}
	if err := b.avoidBBR(fd); err != nil {
		return err
	}
	if err := b.bind(fd, local); err != nil {
		return fmt.Errorf("bind %s: %w", c.Local, err)
	}
	if err := b.mem.WriteAt(peer, b.scratch+scratchAddr); err != nil {
		return err
	}
	if _, err := b.call(unix.SYS_CONNECT, fd, b.scratch+scratchAddr, uint64(len(peer))); err != nil {
		return fmt.Errorf("connect %s (in repair mode): %w", c.Peer, err)
	}
	opts := []uint32{tcpoptMSS, uint32(c.MSS)}
	if c.Wscale {
		opts = append(opts, tcpoptWindow, uint32(c.SndWscale)|uint32(c.RcvWscale)<<16)
	}
	if c.SACK {
		opts = append(opts, tcpoptSACKPerm, 0)
	}
	if c.Timestamps {
		opts = append(opts, tcpoptTimestamp, 0)
	}
	raw := make([]byte, 4*len(opts))
	for i, v := range opts {
		binary.LittleEndian.PutUint32(raw[4*i:], v)
	}
	if err := b.setRaw(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_OPTIONS, raw); err != nil {
		return fmt.Errorf("TCP_REPAIR_OPTIONS: %w", err)
	}
	if c.Timestamps {
		if err := b.setInt(fd, unix.IPPROTO_TCP, unix.TCP_TIMESTAMP, int(tcpClock(c, time.Now()))); err != nil {
			return fmt.Errorf("TCP_TIMESTAMP: %w", err)
		}
	}
	for _, q := range []struct {
		queue int
		data  []byte
	}{{tcpSendQueue, c.SendQueue}, {tcpRecvQueue, c.RecvQueue}} {
		if err := b.setInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, q.queue); err != nil {
			return fmt.Errorf("TCP_REPAIR_QUEUE: %w", err)
		}
		if err := b.refill(fd, q.data); err != nil {
			return fmt.Errorf("refilling its %s queue: %w", map[int]string{tcpSendQueue: "send", tcpRecvQueue: "receive"}[q.queue], err)
		}
	}
	if err := b.setInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, 0); err != nil {
		return fmt.Errorf("TCP_REPAIR_QUEUE: %w", err)
	}
	w := make([]byte, 20)
	for i, v := range c.Window {
		binary.LittleEndian.PutUint32(w[4*i:], v)
	}
	if err := b.setRaw(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_WINDOW, w); err != nil {
		return fmt.Errorf("TCP_REPAIR_WINDOW: %w", err)
	}
	return nil
}

// forcedBuffer says how to set a connection's buffer size o, if o is
// one: with SO_RCVBUFFORCE or SO_SNDBUFFORCE (repair mode has already
// needed CAP_NET_ADMIN, which they need too), since the size a busy
// connection grew to, or a root program forced, may be far above what
// SO_RCVBUF and SO_SNDBUF grant (net.core.rmem_max and wmem_max), and the
// queue must fit in it again or refilling it fails with ENOBUFS. Never
// less than twice the queue, which is what its packets cost.
func forcedBuffer(o image.SockOpt, c *image.TCPConn) (name, size int, ok bool) {
	if o.Level != unix.SOL_SOCKET || len(o.Value) != 1 {
		return 0, 0, false
	}
	var queue int
	switch o.Name {
	case unix.SO_RCVBUF:
		name, queue = unix.SO_RCVBUFFORCE, len(c.RecvQueue)
	case unix.SO_SNDBUF:
		name, queue = unix.SO_SNDBUFFORCE, len(c.SendQueue)
	default:
		return 0, 0, false
	}
	want := max(o.Value[0], 2*int64(queue))
	return name, int(min(want, math.MaxInt32) / 2), true // the kernel doubles it
}

// avoidBBR gives the connection cubic congestion control where it would
// get BBR, the default here: BBR, started on a connection made again in
// repair mode with its send queue in flight, took its first samples for
// the path's rate and sent the queue again at some kilobytes a second,
// for 18-25 s, in half the restarts of a download over loopback (cubic:
// 0.3 s every time). A program that chose its congestion control
// through TCP_CONGESTION is not told.
func (b *builder) avoidBBR(fd uint64) error {
	def, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil || strings.TrimSpace(string(def)) != "bbr" {
		return nil
	}
	if err := b.setRaw(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, []byte("cubic")); err != nil {
		return fmt.Errorf("TCP_CONGESTION cubic: %w", err)
	}
	return nil
}

// refill writes data into the queue repair mode has selected, in one
// piece (a receive queue takes as many packets as pieces, each costing
// more of the receive buffer than its bytes): through a mapping made for
// it in the process and removed after.
func (b *builder) refill(fd uint64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	size := uint64(len(data)+4095) &^ 4095
	buf, err := b.call(unix.SYS_MMAP, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, none, 0)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	defer b.call(unix.SYS_MUNMAP, buf, size)
	if err := b.mem.WriteAt(data, buf); err != nil {
		return err
	}
	for off := 0; off < len(data); {
		sent, err := b.call(unix.SYS_SENDTO, fd, buf+uint64(off), uint64(len(data)-off), unix.MSG_DONTWAIT, 0, 0)
		if err != nil {
			return fmt.Errorf("%d of %d bytes in: %w", off, len(data), err)
		}
		if sent == 0 {
			return fmt.Errorf("%d of %d bytes in: the queue takes no more", off, len(data))
		}
		off += int(sent)
	}
	return nil
}

func (b *builder) setInt(fd uint64, level, name, v int) error {
	raw := make([]byte, 4)
	binary.LittleEndian.PutUint32(raw, uint32(int32(v)))
	return b.setRaw(fd, level, name, raw)
}

func (b *builder) setRaw(fd uint64, level, name int, raw []byte) error {
	if err := b.mem.WriteAt(raw, b.scratch+scratchOpt); err != nil {
		return err
	}
	_, err := b.call(unix.SYS_SETSOCKOPT, fd, uint64(level), uint64(name), b.scratch+scratchOpt, uint64(len(raw)))
	return err
}

// leaveRepair lets the restored TCP connections go, once every process
// and so every end is there: out of repair mode, each sends a window
// probe, and retransmits what it had sent and not had acknowledged. Those
// that had SO_REUSEADDR get it back.
func (s *shared) leaveRepair() error {
	// The peers outside first: so that the answer to the window probe
	// gets through, and tells the connection at once how much its peer
	// takes (a window it had closed, and opened meanwhile, would else
	// wait for a zero-window probe, backed off to many seconds). The
	// connections are whole by now; what arrives before they leave
	// repair mode is taken as it would be after.
	errs := []error{s.unlock()}
	for _, c := range s.tcp {
		fd := int(c.f.Fd())
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 0); err != nil {
			errs = append(errs, fmt.Errorf("%s: leaving TCP repair mode: %w", c.f.Name(), err))
		} else if c.reuseAddr {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
				errs = append(errs, fmt.Errorf("%s: SO_REUSEADDR: %w", c.f.Name(), err))
			}
		}
		c.f.Close()
	}
	s.tcp = nil
	s.resetPeers()
	return errors.Join(errs...)
}

// netLock is an nftables table a --kill checkpoint left to hold the
// packets of connections to peers outside (package netlock), and the pid
// of a restored process in whose network namespace it is. It must go
// (must) once a connection it holds is back; a restart with --tcp-close
// only tries.
type netLock struct {
	pid  int
	must bool
}

func (s *shared) lock(name string, pid int, must bool) {
	if s.locks == nil {
		s.locks = map[string]netLock{}
	}
	l := s.locks[name]
	s.locks[name] = netLock{pid, l.must || must}
}

// unlock removes the tables of the connections made again: their peers'
// packets reach them from now on.
func (s *shared) unlock() error {
	var errs []error
	for name, l := range s.locks {
		err := netlock.Release(name, fmt.Sprintf("/proc/%d/ns/net", l.pid))
		switch {
		case err == nil:
		case l.must:
			errs = append(errs, fmt.Errorf("letting the packets of the TCP connections to peers outside through again: %w", err))
		default:
			fmt.Fprintf(os.Stderr, "cr_restart: warning: the connections to peers outside came back reset, but the checkpoint's rule dropping their packets stays (as root: nft delete table inet %s): %v\n", name, err)
		}
	}
	s.locks = nil
	return errors.Join(errs...)
}

// tcpClock is the TCP timestamp clock for c at now: the one it had at
// the checkpoint, moved on by the time since. Between the checkpoint's
// read and the kill, the connection may have sent (retransmitted, probed
// a closed window) with later timestamps; its peer drops anything that
// carries one older than the last it saw (PAWS), resets included. The
// lowest bit says the clock counts microseconds (tcp_usec_ts), else
// milliseconds; adding an even count keeps it.
func tcpClock(c *image.TCPConn, now time.Time) uint32 {
	since := now.Sub(time.Unix(0, c.TimestampAt))
	if c.TimestampAt == 0 || since <= 0 {
		return c.Timestamp
	}
	ticks := since.Milliseconds()
	if c.Timestamp&1 != 0 {
		ticks = since.Microseconds()
	}
	return c.Timestamp + uint32(ticks)&^1
}
