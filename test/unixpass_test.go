package e2e

import (
	"os"
	"regexp"
	"testing"
)

// unixPassSrc is a server and its client over a unix socket bound to a
// path (argv[1]), in one image: the client sends numbered lines as fast
// as the server, which reads slowly, lets it, so both queues stay full,
// and with every seventh line it passes a file opened at the offset of
// the line's number; the server checks every number and, from every file
// it is passed, the byte at that offset, and that both ends still have
// their names.
const unixPassSrc = `import os, socket, sys, time
path = sys.argv[1]
data = os.path.join(os.path.dirname(path), "letters")
with open(data, "w") as f:
    f.write("abcdefghijklmnopqrstuvwxyz")
l = socket.socket(socket.AF_UNIX)
l.bind(path)
l.listen()
if os.fork() == 0:
    l.close()
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    n = 0
    while True:
        n += 1
        if c.getpeername() != path:
            print("BAD peer name %r" % c.getpeername(), flush=True)
        line = b"%d %d\n" % (n, n % 7 == 0)
        if n % 7 == 0:
            fd = os.open(data, os.O_RDONLY)
            os.lseek(fd, n % 26, 0)
            socket.send_fds(c, [line], [fd])
            os.close(fd)
        else:
            c.sendall(line)
s, _ = l.accept()
want, files, buf = 1, [], b""
while True:
    b, fds, _, _ = socket.recv_fds(s, 64, 4)
    if not b:
        print("BAD end of file", flush=True)
        sys.exit(1)
    files += fds
    buf += b
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        n, passed = map(int, line.split())
        if n != want:
            print("BAD got %d, want %d" % (n, want), flush=True)
            sys.exit(1)
        if passed:
            if not files:
                print("BAD line %d came without its file" % n, flush=True)
                sys.exit(1)
            fd = files.pop(0)
            got = os.read(fd, 1)
            os.close(fd)
            if got != bytes([97 + n % 26]):
                print("BAD line %d: its file gave %r" % (n, got), flush=True)
                sys.exit(1)
        if n % 50 == 0:
            ok = s.getsockname() == path
            print("tick %d %s %d" % (n // 50, "named" if ok else "BAD name %r" % s.getsockname(), n), flush=True)
        want += 1
    time.sleep(0.002)
`

var unixPassTick = regexp.MustCompile(`^tick (\d+) named \d+$`)

// TestUnixPassFds: unixPassSrc's server and client, connected over a
// socket bound to a path with both queues full and files in flight, are
// checkpointed with --kill and restarted three times (once as uid 65534):
// not a line is lost, doubled or reordered, every file in flight comes
// with its line at its offset, and the server's end still has the path
// as its name and the client's as its peer's.
func TestUnixPassFds(t *testing.T) {
	needEngine(t)
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			py := python(t)
			gens := 3
			if who == "nobody" {
				as, py, gens = hh.nobody(), "/usr/bin/python3", 1
			}
			out := hh.path("out")
			seq := seqSpec{unixPassTick, 1}
			p := hh.startProg("server", append(as, py, "-c", unixPassSrc, hh.path("srv.sock")), out)
			if as != nil {
				os.Chown(out, 65534, 65534)
				os.Chown(p.stderr, 65534, 65534)
			}
			hh.waitSeq(out, seq, 3, wait30, p)
			hh.generations(as, p, out, seq, gens)
		})
	}
}

// pairOptsSrc holds a unix socket pair whose ends have options of their
// own, and each tick checks them and that a message sent from one end
// arrives at the other with the sender's credentials (SO_PASSCRED).
const pairOptsSrc = `import os, socket, struct, time
a, b = socket.socketpair()
b.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 7, 0))
b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 3)
n = 0
while True:
    n += 1
    a.send(b"abc")
    msg, anc, _, _ = b.recvmsg(16, socket.CMSG_SPACE(12))
    creds = [struct.unpack("iII", d) for l, t, d in anc if l == socket.SOL_SOCKET and t == socket.SCM_CREDENTIALS]
    ok = (msg == b"abc" and creds and creds[0][0] == os.getpid() and creds[0][1] == os.getuid()
          and b.getsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED) == 1
          and struct.unpack("ll", a.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16)) == (7, 0)
          and b.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT) == 3)
    print("tick %d %s" % (n, "ok" if ok else "BAD %r %r" % (msg, creds)), flush=True)
    time.sleep(0.05)
`

// TestPairOptions: the options of each end of a unix socket pair
// (SO_PASSCRED, SO_SNDTIMEO, SO_RCVLOWAT) come back with it, and with
// SO_PASSCRED a message carries its restored sender's credentials; as
// root and as uid 65534.
func TestPairOptions(t *testing.T) {
	needEngine(t)
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			as, py := hh.pythonAs(who)
			out := hh.path("out")
			p := hh.startProg("pair", append(as, py, "-c", pairOptsSrc), out)
			if as != nil {
				os.Chown(out, 65534, 65534)
				os.Chown(p.stderr, 65534, 65534)
			}
			seq := seqSpec{regexp.MustCompile(`^tick (\d+) ok$`), 1}
			hh.waitSeq(out, seq, 3, wait30, p)
			hh.generations(as, p, out, seq, 1)
		})
	}
}
