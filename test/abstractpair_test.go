package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// abstractPairSrc: a server listening on an abstract unix name (fd 3)
// and, forked from it, a client connected to it: the client sends a
// number, the server answers the next, and the client prints it. The
// server answers "hello" to any other client that connects.
const abstractPairSrc = `import os, select, socket, sys, time
name = "\0" + sys.argv[1]
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(name); l.listen(4)
if os.fork() == 0:
    l.close()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect(name)
    n = 0
    while True:
        c.sendall(b"%d\n" % n)
        n = int(c.recv(64))
        print("tick", n, flush=True)
        time.sleep(0.02)
a, _ = l.accept()
while True:
    r, _, _ = select.select([l, a], [], [])
    if l in r:
        x, _ = l.accept(); x.sendall(b"hello\n"); x.close()
    if a in r:
        d = a.recv(64)
        if not d:
            sys.exit(1)
        a.sendall(b"%d" % (int(d) + 1))
`

// TestAbstractAccepted: a connection accepted from a server listening on
// an abstract name, with both ends in the image, comes back although the
// restored server holds the name before the connection is made (its
// listener is its first fd): made from that listener. The count goes on
// through two generations as root and one as uid 65534, and a new client
// is served.
func TestAbstractAccepted(t *testing.T) {
	needEngine(t)
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			as, py := hh.pythonAs(who)
			name := fmt.Sprintf("stasis-abstract-%d-%d", os.Getpid(), time.Now().UnixNano())
			out := hh.path("pair.out")
			p := hh.startProg("pair", append(as, py, "-c", abstractPairSrc, name), out)
			if as != nil {
				os.Chown(out, 65534, 65534)
				os.Chown(p.stderr, 65534, 65534)
			}
			spec := seqSpec{tickLine, 1}
			hh.waitSeq(out, spec, 20, wait30, p)
			gens := 2
			if as != nil {
				gens = 1
			}
			hh.generations(as, p, out, spec, gens)
			hello(t, name, p)
		})
	}
}

// hello connects to the abstract name as a new client and wants "hello".
func hello(t *testing.T, name string, p *proc) {
	t.Helper()
	c, err := net.Dial("unix", "@"+name)
	if err != nil {
		t.Fatalf("a new client: %v\n%s", err, p.describe())
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait30))
	if l, err := bufio.NewReader(c).ReadString('\n'); l != "hello\n" {
		t.Fatalf("a new client got %q, %v\n%s", l, err, p.describe())
	}
}
