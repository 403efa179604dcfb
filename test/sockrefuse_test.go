package e2e

import (
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSocketRefusalSays: a checkpoint refused for a socket says which
// case it is, with family and addresses, and what stasis does save: a
// TCP connection to a server outside the image, a unix socket pair with a
// pipe in flight that no process holds, a netlink socket of another protocol than NETLINK_ROUTE
// and route ones with an answer waiting or in a group above 32, a UDP socket with a datagram waiting, a unix socket
// connected to a server outside it; datagrams waiting on a bound unix
// datagram socket from a named sender since closed, or on one connected
// to a bound one of the image from another sender (TestDgramOutside: from
// a sender outside the image).
func TestSocketRefusalSays(t *testing.T) {
	needEngine(t)
	py := python(t)
	cases := []struct {
		name, src string
		want      string // a regexp; PATH stands for the socket's path
	}{
		{"tcp connected to a server outside", `c = socket.create_connection(("127.0.0.1", int(sys.argv[3])))`,
			`fd \d+: tcp 127\.0\.0\.1:\d+ connected to 127\.0\.0\.1:PORT \(socket:\[\d+\]\): not checkpointable \(its peer is outside the checkpoint\); checkpoint with --tcp-established \(as root\) to have it go on after the restart, or with --tcp-close to restore it as reset by its peer \(the program sees ECONNRESET\)`},
		{"unix pair with a pipe in flight", `import os; a, b = socket.socketpair(); r, w = os.pipe(); socket.send_fds(a, [b"x"], [r]); os.close(r); os.close(w)`,
			`fd \d+ \(socket:\[\d+\]\): its queue: message 1: it passes pipe:\[\d+\], which no process of the checkpoint holds, and a restart cannot make again \(stasis makes again in flight what a process holds too, and regular files and directories\)`},
		{"netlink of another protocol", `s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)`,
			`fd \d+: netlink socket of protocol 16 \(socket:\[\d+\]\): not checkpointable \(stasis saves NETLINK_ROUTE sockets connected to nothing, not yet other kinds\)`},
		{"netlink route with an answer waiting", `import struct; s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE); s.bind((0, 0)); s.send(struct.pack("=IHHII", 32, 18, 0x301, 1, 0) + bytes(16)); time.sleep(0.1)`,
			`fd \d+: netlink route socket \(socket:\[\d+\]\): a message of \d+ bytes waits to be read on it`},
		{"netlink route in a group above 32", `s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE); s.bind((0, 0)); s.setsockopt(270, 1, 33)`,
			`fd \d+: netlink route socket \(socket:\[\d+\]\): a member of multicast groups above 32 \(NETLINK_ADD_MEMBERSHIP\): not supported yet`},
		{"udp with a datagram waiting", `s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.sendto(b"x", s.getsockname()); time.sleep(0.1)`,
			`fd \d+: udp 127\.0\.0\.1:\d+, bound \(socket:\[\d+\]\): 1 bytes wait to be read on it`},
		{"unix connected to a server outside", `s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[2])`,
			`fd \d+: unix stream connected to PATH \(socket:\[\d+\]\): not checkpointable \(stasis saves listening and unconnected unix sockets, pairs inside the image, and datagram sockets connected to a path outside it; a stream connected outside it only cut from its peer\); .*--cut-pipes.*--inherit-fd fd\[N\]:socket:\[\d+\]`},
		{"unix datagram waiting from a named sender since closed", `s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); c.bind("\0" + sys.argv[1]); c.sendto(b"", sys.argv[1]); c.close()`,
			`pid PID fd 3 \(socket:\[\d+\]\): unix datagram socket, its queue: datagram 1: from @HERE, a socket since closed: a restart could not send it again from that name`},
		{"unix datagram connected to a bound one inside, a datagram from another waiting", `s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); c.bind(sys.argv[1] + ".c"); s.sendto(b"x", sys.argv[1] + ".c"); o = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); o.bind(sys.argv[1] + ".o"); o.sendto(b"y", sys.argv[1] + ".c"); c.connect(sys.argv[1])`,
			`pid PID fd 4 \(socket:\[\d+\]\): unix datagram socket connected to HERE: datagram 2 waiting on it is from HERE\.o, sent before it connected, which a restart could not send to it again: not supported`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hh := newH(t)
			path := hh.path("sock")
			src := "import socket, sys, time\n" + c.src + "\nprint('ready', flush=True)\ntime.sleep(60)\n"
			out := hh.path("out")
			outside := hh.path("outside")
			l, err := net.Listen("unix", outside)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			tl, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer tl.Close()
			port := strconv.Itoa(tl.Addr().(*net.TCPAddr).Port)
			p := hh.startProg("server", []string{py, "-c", src, path, outside, port}, out)
			for deadline := time.Now().Add(wait30); ; time.Sleep(10 * time.Millisecond) {
				if b, _ := os.ReadFile(out); strings.Contains(string(b), "ready") {
					break
				}
				if time.Now().After(deadline) || p.exited() {
					t.Fatalf("the server never got ready\n%s", p.describe())
				}
			}
			r := hh.run(wait30, bin(t, "cr_checkpoint"), "-f", hh.path("img"), strconv.Itoa(p.pid))
			want := regexp.MustCompile(strings.NewReplacer("PATH", regexp.QuoteMeta(outside), "HERE", regexp.QuoteMeta(path), "PORT", port, "PID", strconv.Itoa(p.pid)).Replace(c.want))
			if r.code == 0 || !want.MatchString(r.stderr) {
				t.Fatalf("want a refusal matching %q, got\n%s", want, r)
			}
		})
	}
}
