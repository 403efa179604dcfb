package e2e

import (
	"os"
	"regexp"
	"testing"
)

// ptySrc runs a child on a new pty (pty.fork: its own session, the pty
// its controlling terminal) that sets its terminal's settings once and
// then counts, saying each time whether it still has them: the window
// size, no echo, ^G as its interrupt character, its group in the
// foreground, /dev/tty openable. The parent, which holds the master,
// reads slowly (so that output waits in the pty), checks that the count
// goes on by one, and prints a tick for each line.
const ptySrc = `import fcntl, os, pty, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    t = termios.tcgetattr(0)
    t[3] &= ~termios.ECHO
    t[6][termios.VINTR] = b"\x07"
    termios.tcsetattr(0, termios.TCSANOW, t)
    n = 0
    while True:
        n += 1
        t = termios.tcgetattr(0)
        ok = [os.get_terminal_size(0) == os.terminal_size((101, 33)),
              not t[3] & termios.ECHO, t[6][termios.VINTR] == b"\x07",
              os.tcgetpgrp(0) == os.getpgrp(), os.getsid(0) == os.getpid()]
        try:
            os.close(os.open("/dev/tty", os.O_RDWR))
            ok.append(True)
        except OSError:
            ok.append(False)
        print("count %d %s" % (n, "".join("1" if x else "0" for x in ok)), flush=True)
        time.sleep(0.01)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
want, tick, buf = 0, 0, b""
while True:
    time.sleep(0.05)
    buf += os.read(fd, 256)
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        f = line.strip(b"\r").decode().split()
        if len(f) != 3 or f[0] != "count":
            print("BAD line %r" % line, flush=True)
            continue
        n = int(f[1])
        if want and n != want:
            print("BAD count %d, want %d" % (n, want), flush=True)
        want = n + 1
        if n > 3 and f[2] != "111111":
            print("BAD terminal %s at count %d" % (f[2], n), flush=True)
        if n % 10 == 0:
            tick += 1
            print("tick %d ok" % tick, flush=True)
`

var ptyTick = regexp.MustCompile(`^tick (\d+) ok$`)

// TestPtyPair: ptySrc, a pty pair inside the image with output waiting in
// it, is checkpointed as a tree with --kill and restarted, twice as root
// and once as uid 65534: the count goes on without a line lost or
// doubled, and the child still has its terminal as it set it, as its
// controlling terminal with its group in the foreground.
func TestPtyPair(t *testing.T) {
	needEngine(t)
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			py := python(t)
			gens := 2
			if who == "nobody" {
				as, py, gens = hh.nobody(), "/usr/bin/python3", 1
			}
			out := hh.path("out")
			seq := seqSpec{ptyTick, 1}
			p := hh.startProg("pty", append(as, py, "-c", ptySrc), out)
			if as != nil {
				os.Chown(out, 65534, 65534)
				os.Chown(p.stderr, 65534, 65534)
			}
			hh.waitSeq(out, seq, 3, wait30, p)
			hh.generations(as, p, out, seq, gens)
		})
	}
}
