package e2e

// Real programs nobody here wrote, checkpointed as trees midway through
// their work: GNU make with its compilers, Redis with a client.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// makeFiles is how many C files TestMakeJobs compiles.
const makeFiles = 200

// writeProject writes into dir a C project of makeFiles files, fN.c
// defining fN() returning N*N+1, and main.c printing the sum of their
// values, with a Makefile that builds it as prog, its compilers' temporary
// files in dir/tmp. It returns the sum prog must print.
func writeProject(t *testing.T, dir string) int {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	var main, objs strings.Builder
	main.WriteString("#include <stdio.h>\n")
	sum := 0
	for i := range makeFiles {
		src := fmt.Sprintf("int f%d(void) { volatile int n = %d; return n * n + 1; }\n", i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.c", i)), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&main, "int f%d(void);\n", i)
		fmt.Fprintf(&objs, " f%d.o", i)
		sum += i*i + 1
	}
	main.WriteString("int main(void) {\n\tlong s = 0;\n")
	for i := range makeFiles {
		fmt.Fprintf(&main, "\ts += f%d();\n", i)
	}
	main.WriteString("\tprintf(\"sum %ld\\n\", s);\n\treturn 0;\n}\n")
	mf := "export TMPDIR := $(CURDIR)/tmp\n" +
		"prog: main.o" + objs.String() + "\n\tgcc -o $@ $^\n" +
		"%.o: %.c\n\tgcc -O2 -c -o $@ $<\n"
	for name, text := range map[string]string{"main.c": main.String(), "Makefile": mf} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sum
}

// objects counts the .o files in dir.
func objects(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "*.o"))
	return len(m)
}

// TestMakeJobs: make -j2 building a project of 200 C files (GNU make's
// jobserver pipe, gcc and its cc1 and as coming and going) is
// checkpointed as a tree with --kill while compilers run, some objects
// built and not all; restarted, the build finishes and the program it
// built prints the right sum; as root and as uid 65534.
func TestMakeJobs(t *testing.T) {
	needEngine(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skipf("gcc is not installed: %v", err)
	}
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skipf("make is not installed: %v", err)
	}
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			if who == "nobody" {
				as = hh.nobody()
			}
			proj := hh.path("proj")
			want := writeProject(t, proj)
			if as != nil {
				chownTree(t, proj, 65534)
			}
			m := hh.start("make", append(as, mk, "-s", "-j2", "-C", proj), startOpts{})
			if as != nil {
				os.Chown(m.stdout, 65534, 65534)
				os.Chown(m.stderr, 65534, 65534)
			}
			// Some objects built, not all: compilers are running.
			for deadline := time.Now().Add(wait30); objects(proj) < 20; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) || m.exited() {
					t.Fatalf("make built %d objects\n%s", objects(proj), m.describe())
				}
			}
			img := hh.path("make.img")
			began := time.Now()
			if r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(m.pid))...); r.code != 0 {
				t.Fatalf("checkpoint:\n%s", r)
			}
			built := objects(proj)
			t.Logf("checkpointed with %d of %d objects built in %v", built, makeFiles+1, time.Since(began).Round(time.Millisecond))
			if built > makeFiles {
				t.Fatalf("the build was over (%d objects) before the checkpoint: it proves nothing", built)
			}
			hh.waitReaped(m, "checkpointed with --kill")
			procs := hh.imageProcs(img)
			t.Logf("the image holds %v", procs)
			compilers := 0
			for _, p := range procs {
				switch p.comm {
				case "gcc", "cc1", "as", "collect2", "ld":
					compilers++
				}
			}
			if compilers == 0 {
				t.Fatalf("no compiler was running at the checkpoint (the image holds %v): it proves little", procs)
			}
			hh.pidsFree(procs)
			r := hh.restartAs("restart", as, img)
			t.Cleanup(func() {
				killRestored(m.pid, r.pid)
				for _, d := range descendants(r.pid) {
					syscall.Kill(d, syscall.SIGKILL)
				}
			})
			if !r.wait(60*time.Second) || !r.state.Success() {
				t.Fatalf("the restored make -j2 did not finish well\n%s\nmake's stderr:\n%s", r.describe(), readAll(m.stderr))
			}
			t.Logf("the restored build finished %v after the checkpoint", time.Since(began).Round(time.Millisecond))
			out := hh.run(wait30, filepath.Join(proj, "prog"))
			if got := strings.TrimSpace(out.stdout); out.code != 0 || got != fmt.Sprintf("sum %d", want) {
				t.Fatalf("the program built says %q, want \"sum %d\"\n%s", got, want, out)
			}
		})
	}
}

// chownTree gives dir and everything in it to uid (and gid) id.
func chownTree(t *testing.T, dir string, id int) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, id, id)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readAll(path string) string {
	b, _ := os.ReadFile(path)
	return indent(string(b))
}

// imageProc is a process an image holds, as cr_info names it.
type imageProc struct {
	pid     int
	comm    string
	threads int
}

func (p imageProc) String() string {
	return fmt.Sprintf("%d (%s, %d threads)", p.pid, p.comm, p.threads)
}

var processLine = regexp.MustCompile(`(?m)^process (\d+) \((.*)\) .*: (\d+) threads`)

// imageProcs lists the processes of img, parents first.
func (hh *h) imageProcs(img string) []imageProc {
	hh.t.Helper()
	info := hh.run(wait30, bin(hh.t, "cr_info"), img)
	if info.code != 0 {
		hh.t.Fatalf("cr_info:\n%s", info)
	}
	var ps []imageProc
	for _, m := range processLine.FindAllStringSubmatch(info.stdout, -1) {
		pid, _ := strconv.Atoi(m[1])
		threads, _ := strconv.Atoi(m[3])
		ps = append(ps, imageProc{pid, m[2], threads})
	}
	return ps
}

// pidsFree waits until the pids of ps are free again (the processes a
// --kill checkpoint killed, and reaps those reparented to us), so that a
// restart can give them back.
func (hh *h) pidsFree(ps []imageProc) {
	for _, p := range ps {
		reap(p.pid, 10*time.Second)
		if !waitGone(p.pid, 10*time.Second) {
			hh.t.Fatalf("pid %d (%s) is still taken 10 s after the checkpoint killed it", p.pid, p.comm)
		}
	}
}

// redisClient is a Python client of a Redis server it starts as its
// child with the config argv[1]: over the unix socket argv[2] and, if
// argv[3] is not 0, also over TCP on that loopback port, it sets key:N to
// N, one connection after the other, checking each answer, and prints
// "wrote N ok" every 100 keys.
const redisClient = `import socket, subprocess, sys, time
conf, path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
srv = subprocess.Popen(["redis-server", conf], stdin=subprocess.DEVNULL)
def dial(family, addr):
    for _ in range(500):
        try:
            s = socket.socket(family); s.connect(addr); return s
        except OSError:
            s.close(); time.sleep(0.02)
    sys.exit("cannot connect to redis at %r" % (addr,))
conns = [dial(socket.AF_UNIX, path)]
if port:
    conns.append(dial(socket.AF_INET, ("127.0.0.1", port)))
files = [c.makefile("rb") for c in conns]
def call(i, *args):
    args = [a.encode() for a in args]
    conns[i].sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    return files[i].readline()
n = 0
while True:
    n += 1
    got = call(n % len(conns), "SET", "key:%d" % n, str(n))
    if got != b"+OK\r\n":
        print("BAD answer %r to SET key:%d" % (got, n), flush=True); sys.exit(1)
    if n % 100 == 0:
        print("wrote %d ok" % n, flush=True)
        time.sleep(0.01)
`

var wroteLine = regexp.MustCompile(`^wrote (\d+) ok$`)

// resp sends one command to a Redis server and reads its answer: a
// status or error line, an integer, a bulk string, or an array of bulk
// strings (nil ones as "(nil)"), returned as strings.
func resp(c net.Conn, r *bufio.Reader, args ...string) ([]string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, b.String()); err != nil {
		return nil, err
	}
	line := func() (string, error) {
		l, err := r.ReadString('\n')
		return strings.TrimSuffix(l, "\r\n"), err
	}
	bulk := func(head string) (string, error) {
		n, err := strconv.Atoi(head[1:])
		if err != nil || head[0] != '$' {
			return "", fmt.Errorf("bad bulk header %q", head)
		}
		if n < 0 {
			return "(nil)", nil
		}
		buf := make([]byte, n+2)
		_, err = io.ReadFull(r, buf)
		return string(buf[:n]), err
	}
	head, err := line()
	if err != nil || head == "" {
		return nil, fmt.Errorf("reading the answer: %q, %v", head, err)
	}
	switch head[0] {
	case '+', ':':
		return []string{head[1:]}, nil
	case '-':
		return nil, fmt.Errorf("redis: %s", head[1:])
	case '$':
		s, err := bulk(head)
		return []string{s}, err
	case '*':
		n, err := strconv.Atoi(head[1:])
		if err != nil {
			return nil, fmt.Errorf("bad array header %q", head)
		}
		out := make([]string, 0, n)
		for range n {
			h, err := line()
			if err != nil {
				return out, err
			}
			s, err := bulk(h)
			if err != nil {
				return out, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown answer %q", head)
}

// TestRedis: a Redis server (Debian's redis-server, jemalloc and its
// background threads) listening on a unix socket, and as root on a
// loopback TCP port too, with persistence off, and a client that started
// it writing keys over both, are checkpointed as a tree with --kill and
// restarted (--no-lazy: jemalloc takes purged pages for zeroed): a new
// connection finds every key written before, and the client goes on;
// as root and as uid 65534 (its client over the unix socket only: TCP
// connections are saved only as root).
func TestRedis(t *testing.T) {
	needEngine(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("redis-server is not installed (Debian package redis-server): %v", err)
	}
	py := "/usr/bin/python3" // one uid 65534 may run (not in /root/.pyenv)
	if _, err := os.Stat(py); err != nil {
		t.Skipf("no %s: %v", py, err)
	}
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			port := 0
			if who == "nobody" {
				as = hh.nobody()
			} else {
				l, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				port = l.Addr().(*net.TCPAddr).Port
				l.Close()
			}
			sock, conf := hh.path("redis.sock"), hh.path("redis.conf")
			cfg := fmt.Sprintf("port %d\nbind 127.0.0.1\nunixsocket %s\nunixsocketperm 700\n"+
				"save \"\"\nappendonly no\ndir %s\nlogfile %s\ndaemonize no\nprotected-mode no\n",
				port, sock, hh.dir, hh.path("redis.log"))
			if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			out := hh.path("client.out")
			p := hh.startProg("client", append(as, py, "-c", redisClient, conf, sock, strconv.Itoa(port)), out)
			if as != nil {
				os.Chown(out, 65534, 65534)
				os.Chown(p.stderr, 65534, 65534)
			}
			seq := seqSpec{wroteLine, 100}
			hh.waitSeq(out, seq, 2000, wait30, p)
			img := hh.path("redis.img")
			began := time.Now()
			if r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(p.pid))...); r.code != 0 {
				t.Fatalf("checkpoint:\n%s", r)
			}
			t.Logf("checkpoint: %v", time.Since(began).Round(time.Millisecond))
			hh.waitReaped(p, "checkpointed with --kill")
			procs := hh.imageProcs(img)
			t.Logf("the image holds %v", procs)
			hh.pidsFree(procs)
			written := hh.lastSeq(out, seq)
			r := hh.restartAs("restart", as, "--no-lazy", img)
			t.Cleanup(func() {
				killRestored(p.pid, r.pid)
				for _, d := range descendants(r.pid) {
					syscall.Kill(d, syscall.SIGKILL)
				}
			})
			// A new connection finds every key written before.
			var c net.Conn
			var err error
			for deadline := time.Now().Add(wait30); ; time.Sleep(20 * time.Millisecond) {
				if c, err = net.Dial("unix", sock); err == nil {
					break
				}
				if time.Now().After(deadline) || r.exited() {
					t.Fatalf("connecting to %s after the restart: %v\n%s", sock, err, r.describe())
				}
			}
			defer c.Close()
			rd := bufio.NewReader(c)
			n, err := resp(c, rd, "DBSIZE")
			if err != nil {
				t.Fatalf("DBSIZE: %v", err)
			}
			if size, _ := strconv.ParseInt(n[0], 10, 64); size < written {
				t.Fatalf("DBSIZE %d after the restart: the client had written %d keys", size, written)
			}
			for from := int64(1); from <= written; from += 1000 {
				args := []string{"MGET"}
				for i := from; i < from+1000 && i <= written; i++ {
					args = append(args, "key:"+strconv.FormatInt(i, 10))
				}
				vals, err := resp(c, rd, args...)
				if err != nil || len(vals) != len(args)-1 {
					t.Fatalf("MGET key:%d...: %d values, %v", from, len(vals), err)
				}
				for j, v := range vals {
					if want := strconv.FormatInt(from+int64(j), 10); v != want {
						t.Fatalf("after the restart key:%s is %q, want %q", want, v, want)
					}
				}
			}
			t.Logf("all %d keys written before the checkpoint are there", written)
			if port != 0 {
				redisTCP(t, port, r)
			}
			// And the client goes on.
			hh.waitSeq(out, seq, written+2000, wait30, r)
			if b, _ := os.ReadFile(out); strings.Contains(string(b), "BAD") {
				t.Fatalf("%s", b)
			}
			// The client still runs: its last line may be half written.
			if b, err := os.ReadFile(out); err != nil {
				t.Fatal(err)
			} else if _, err := parseSeq(b, seq, false); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
		})
	}
}

// redisTCP requires the Redis server that r restored to answer a new
// client on its TCP port, and its restored connection to the client,
// accepted from a listener with SO_REUSEADDR, to have it too.
func redisTCP(t *testing.T, port int, r *proc) {
	t.Helper()
	pid := 0
	for _, d := range descendants(r.pid) {
		if st, _ := readStat(d); st.comm == "redis-server" {
			pid = d
		}
	}
	if pid == 0 {
		t.Fatalf("no restored redis-server below cr_restart\n%s", r.describe())
	}
	c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("a new TCP client after the restart: %v", err)
	}
	defer c.Close()
	if got, err := resp(c, bufio.NewReader(c), "GET", "key:1"); err != nil || got[0] != "1" {
		t.Fatalf("GET key:1 over TCP after the restart: %q, %v", got, err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer unix.Close(pidfd)
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	conns := 0
	for _, e := range ents {
		n, _ := strconv.Atoi(e.Name())
		fd, err := unix.PidfdGetfd(pidfd, n, 0)
		if err != nil {
			continue
		}
		peer, _ := unix.Getpeername(fd)
		local, _ := unix.Getsockname(fd)
		if a, ok := local.(*unix.SockaddrInet4); ok && a.Port == port && peer != nil {
			conns++
			if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR); err != nil || v != 1 {
				t.Errorf("the restored connection on fd %d of redis: SO_REUSEADDR %d (%v), want 1", n, v, err)
			}
		}
		unix.Close(fd)
	}
	if conns < 2 { // the client's and ours
		t.Fatalf("redis (pid %d) holds %d TCP connections on port %d, want the client's and ours", pid, conns, port)
	}
}
