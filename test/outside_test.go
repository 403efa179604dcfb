package e2e

import (
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// outsideSrc holds, as fds 3, 4 and 5, the read end of a pipe, a unix
// stream socket and a unix datagram socket that lead outside the
// checkpoint (to the test), and counts until SIGUSR1; then it reads the
// pipe and the stream to their end, writes to the stream, and sends a
// datagram, saying what each gave.
const outsideSrc = `import os, signal, socket, time
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
go = []
signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
n = 0
while not go:
    n += 1
    print("tick %d" % n, flush=True)
    time.sleep(0.05)
def drain(fd):
    data = b""
    while True:
        b = os.read(fd, 100)
        if not b:
            return data.decode()
        data += b
print("pipe %r then EOF" % drain(3), flush=True)
print("stream %r then EOF" % drain(4), flush=True)
try:
    os.write(4, b"x")
    print("stream write went through", flush=True)
except OSError as e:
    print("stream write: errno %d" % e.errno, flush=True)
d = socket.socket(fileno=5)
d.send(b"after the restart")
print("datagram sent", flush=True)
`

// TestOutsideEnds: a pipe, a unix stream socket and a unix datagram
// socket leading outside the checkpoint, as a job inherits them from
// whatever started it. The pipe and the stream are refused, the refusal
// naming --cut-pipes and --inherit-fd with their inodes; with --cut-pipes
// they come back with what waited in them, then end of file, and EPIPE on
// a write, while the datagram socket is connected again to the path it
// was connected to (a syslog socket's case). Restarted with --inherit-fd,
// the process reads descriptors the restart gives instead; an
// --inherit-fd naming nothing the image cut is refused. As root and as
// uid 65534. With the datagram socket's peer gone, the restart fails,
// naming its path.
func TestOutsideEnds(t *testing.T) {
	needEngine(t)
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			as, py := hh.pythonAs(who)
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			pw.Write([]byte("queued"))
			sfds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			stream, peer := os.NewFile(uintptr(sfds[0]), "stream"), os.NewFile(uintptr(sfds[1]), "peer")
			defer peer.Close()
			peer.Write([]byte("hello"))
			dpath := hh.path("log.sock")
			logSock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: dpath, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer logSock.Close()
			os.Chmod(dpath, 0o666)
			dfd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Connect(dfd, &syscall.SockaddrUnix{Name: dpath}); err != nil {
				t.Fatal(err)
			}
			dgram := os.NewFile(uintptr(dfd), "dgram")
			out := hh.path("out")
			p := hh.start("job", append(as, py, "-c", outsideSrc), startOpts{stdout: out, extra: []*os.File{pr, stream, dgram}})
			if as != nil {
				os.Chown(out, 65534, 65534)
				os.Chown(p.stderr, 65534, 65534)
			}
			pipeKey, streamKey := "pipe:["+inode(t, pr)+"]", "socket:["+inode(t, stream)+"]"
			pr.Close()
			stream.Close()
			dgram.Close()
			seq := seqSpec{tickLine, 1}
			hh.waitSeq(out, seq, 2, wait30, p)
			img := hh.path("img")
			ckpt := append(as[:len(as):len(as)], bin(t, "cr_checkpoint"))
			r := hh.run(wait30, append(ckpt, "-f", img, strconv.Itoa(p.pid))...)
			refused := regexp.MustCompile(`fd (3|4): .*\((pipe|socket):\[(\d+)\]\): .*--cut-pipes.*--inherit-fd fd\[N\]:(pipe|socket):\[(\d+)\]`)
			m := refused.FindStringSubmatch(r.stderr)
			if r.code == 0 || m == nil || m[3] != m[5] {
				t.Fatalf("want a refusal of fd 3 or 4 naming --cut-pipes and --inherit-fd with its inode, got\n%s", r)
			}
			if r := hh.run(wait30, append(ckpt, "--cut-pipes", "--kill", "-f", img, strconv.Itoa(p.pid))...); r.code != 0 {
				t.Fatalf("cr_checkpoint --cut-pipes:\n%s", r)
			}
			hh.waitReaped(p, "--kill")
			waitGone(p.pid, 10*time.Second)
			last := hh.lastSeq(out, seq)

			// Cut: what waited, then end of file, EPIPE; the datagram
			// socket reaches the test's.
			rs := hh.restartAs("restart", as, img)
			t.Cleanup(func() { killRestored(p.pid, rs.pid) })
			waitFor(t, out, "tick "+strconv.FormatInt(last+2, 10), rs)
			syscall.Kill(restored(t, as, p.pid, rs), syscall.SIGUSR1)
			waitFor(t, out, "datagram sent", rs)
			b, _ := os.ReadFile(out)
			for _, want := range []string{"pipe 'queued' then EOF", "stream 'hello' then EOF", "stream write: errno 32"} {
				if !strings.Contains(string(b), want+"\n") {
					t.Errorf("after the restart, want %q in its output:\n%s", want, tail(b, 8))
				}
			}
			logSock.SetReadDeadline(time.Now().Add(wait30))
			buf := make([]byte, 100)
			if n, err := logSock.Read(buf); err != nil || string(buf[:n]) != "after the restart" {
				t.Errorf("the datagram socket's peer got %q (%v), want \"after the restart\"", buf[:n], err)
			}
			if !rs.wait(wait30) || !rs.state.Success() {
				t.Fatalf("the restored program did not end well\n%s", rs.describe())
			}
			waitGone(p.pid, 10*time.Second)

			// A key the image did not cut is refused, naming those it did.
			bad := hh.start("bad", append(as[:len(as):len(as)], bin(t, "cr_restart"), "--inherit-fd", "fd[0]:pipe:[1]", img), startOpts{})
			if !bad.wait(wait30) || bad.state.Success() {
				t.Fatalf("--inherit-fd of a pipe the image does not have: want a failure\n%s", bad.describe())
			}
			if e, _ := os.ReadFile(bad.stderr); !strings.Contains(string(e), "no pipe or socket pipe:[1]") || !strings.Contains(string(e), pipeKey) || !strings.Contains(string(e), streamKey) {
				t.Fatalf("--inherit-fd fd[0]:pipe:[1]: want a refusal naming %s and %s, got\n%s", pipeKey, streamKey, e)
			}
			waitGone(p.pid, 10*time.Second)

			// Inherited: the restart's fds 3 and 4 take their places.
			nr, nw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			nw.Write([]byte("fresh"))
			nw.Close()
			nfds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			ns, npeer := os.NewFile(uintptr(nfds[0]), "stream"), os.NewFile(uintptr(nfds[1]), "peer")
			npeer.Write([]byte("new peer"))
			npeer.Close()
			os.Truncate(out, 0)
			ri := hh.start("inherit", append(as[:len(as):len(as)], bin(t, "cr_restart"),
				"--inherit-fd", "fd[3]:"+pipeKey, "--inherit-fd", "fd[4]:"+streamKey, img), startOpts{extra: []*os.File{nr, ns}})
			nr.Close()
			ns.Close()
			t.Cleanup(func() { killRestored(p.pid, ri.pid) })
			waitFor(t, out, "tick "+strconv.FormatInt(last+2, 10), ri)
			syscall.Kill(restored(t, as, p.pid, ri), syscall.SIGUSR1)
			waitFor(t, out, "datagram sent", ri)
			b, _ = os.ReadFile(out)
			for _, want := range []string{"pipe 'fresh' then EOF", "stream 'new peer' then EOF", "stream write: errno 32"} {
				if !strings.Contains(string(b), want+"\n") {
					t.Errorf("restarted with --inherit-fd, want %q in its output:\n%s", want, tail(b, 8))
				}
			}
			if !ri.wait(wait30) || !ri.state.Success() {
				t.Fatalf("the program restarted with --inherit-fd did not end well\n%s", ri.describe())
			}
			waitGone(p.pid, 10*time.Second)

			// The datagram socket's peer gone: the restart fails, naming it.
			logSock.Close()
			os.Remove(dpath)
			gone := hh.start("gone", append(as[:len(as):len(as)], bin(t, "cr_restart"), img), startOpts{})
			if !gone.wait(wait30) || gone.state.Success() {
				t.Fatalf("restart with the datagram socket's peer gone: want a failure\n%s", gone.describe())
			}
			if e, _ := os.ReadFile(gone.stderr); !strings.Contains(string(e), "connect to "+dpath) {
				t.Fatalf("restart with the datagram socket's peer gone: want its path named, got\n%s", e)
			}
		})
	}
}

// inode is f's inode number.
func inode(t *testing.T, f *os.File) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return strconv.FormatUint(st.Ino, 10)
}

// restored is the pid, as we see it, of the process restored as pid by r:
// pid itself, or for uid 65534 (as) the one in r's pid namespace.
func restored(t *testing.T, as []string, pid int, r *proc) int {
	t.Helper()
	if as == nil {
		return pid
	}
	p, _ := nsPid(t, r.pid, int64(pid), r)
	return p
}
