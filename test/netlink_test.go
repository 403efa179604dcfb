package e2e

import (
	"os"
	"regexp"
	"testing"
)

// netlinkSrc keeps one NETLINK_ROUTE socket, as glibc's getifaddrs and
// Go's net.Interfaces open one, and asks on it again and again for the
// interfaces, checking as glibc does that each answer comes to the port
// it bound, and that the loopback interface is among them.
const netlinkSrc = `import socket, struct, time
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.bind((0, 0))
port = s.getsockname()[0]
n = 0
while True:
    n += 1
    s.send(struct.pack("=IHHII", 32, 18, 0x301, n, 0) + bytes(16))  # RTM_GETLINK, NLM_F_REQUEST|NLM_F_DUMP
    names, done, bad = [], False, ""
    while not done:
        b = s.recv(65536)
        off = 0
        while off + 16 <= len(b):
            ln, typ, _, seq, to = struct.unpack_from("=IHHII", b, off)
            if to != port or seq != n:
                bad = "an answer to port %d seq %d, not %d %d" % (to, seq, port, n)
            if typ == 3:  # NLMSG_DONE
                done = True
            elif typ == 16:  # RTM_NEWLINK: struct ifinfomsg, then attributes
                a = off + 32
                while a + 4 <= off + ln:
                    alen, atyp = struct.unpack_from("=HH", b, a)
                    if atyp == 3:  # IFLA_IFNAME
                        names.append(b[a + 4:a + alen].rstrip(b"\0").decode())
                    a += (alen + 3) & ~3
            off += (ln + 3) & ~3
    print("tick %d %s port %d" % (n, "BAD " + bad if bad else ("ok" if "lo" in names else "BAD no lo in %r" % names), port), flush=True)
    time.sleep(0.05)
`

var netlinkTick = regexp.MustCompile(`^tick (\d+) ok port (\d+)$`)

// TestNetlinkRoute: netlinkSrc is checkpointed with --kill and restarted
// (twice as root, once as uid 65534): its socket answers again, at the
// port it had, every tick listing the loopback interface.
func TestNetlinkRoute(t *testing.T) {
	needEngine(t)
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			py, gens := python(t), 2
			if who == "nobody" {
				as, py, gens = hh.nobody(), "/usr/bin/python3", 1
			}
			out := hh.path("out")
			p := hh.startProg("netlink", append(as, py, "-c", netlinkSrc), out)
			if as != nil {
				os.Chown(out, 65534, 65534)
				os.Chown(p.stderr, 65534, 65534)
			}
			seq := seqSpec{netlinkTick, 1}
			hh.waitSeq(out, seq, 3, wait30, p)
			hh.generations(as, p, out, seq, gens)
			b, _ := os.ReadFile(out)
			ports := map[string]bool{}
			for _, m := range regexp.MustCompile(`(?m)^tick \d+ ok port (\d+)$`).FindAllStringSubmatch(string(b), -1) {
				ports[m[1]] = true
			}
			if len(ports) != 1 {
				t.Fatalf("the socket's port changed: %v", ports)
			}
		})
	}
}
