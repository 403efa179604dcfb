package e2e

// Servers' sockets: listening TCP (IPv4, IPv6) and unix (path, abstract)
// sockets and bound UDP and unix datagram sockets are made again at
// restart with their addresses and options, so the restored server
// serves new clients at once.

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var readyLine = regexp.MustCompile(`ready tcp4=(\d+) tcp6=(\d+) udp=(\d+)`)

// server is test/progs/listen as its clients see it.
type server struct {
	tcp4, tcp6, udp      string
	path, abstract, dgrm string
}

// ask sends one request to each of the server's sockets and returns the
// answers, in a fixed order.
func (s server) ask() ([]string, error) {
	var out []string
	stream := func(network, addr string) error {
		c, err := net.DialTimeout(network, addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("q\n")); err != nil {
			return err
		}
		b, err := io.ReadAll(c)
		if err != nil && len(b) == 0 {
			return fmt.Errorf("%s %s: %w", network, addr, err)
		}
		out = append(out, strings.TrimSpace(string(b)))
		return nil
	}
	dgram := func(c net.Conn, err error) error {
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("q")); err != nil {
			return err
		}
		b := make([]byte, 128)
		n, err := c.Read(b)
		if err != nil {
			return err
		}
		out = append(out, strings.TrimSpace(string(b[:n])))
		return nil
	}
	for _, e := range []error{
		stream("tcp4", s.tcp4), stream("tcp6", s.tcp6), stream("unix", s.path), stream("unixpacket", "@"+s.abstract),
		dgram(net.Dial("udp4", s.udp)),
		dgram(net.DialUnix("unixgram", &net.UnixAddr{Name: "@" + s.abstract + "-client", Net: "unixgram"}, &net.UnixAddr{Name: s.dgrm, Net: "unixgram"})),
	} {
		if e != nil {
			return out, e
		}
	}
	return out, nil
}

// served requires the next answers to count on from first, all ok; it
// retries while the server is not there yet.
func (s server) served(t *testing.T, first int, p *proc) {
	t.Helper()
	deadline := time.Now().Add(wait30)
	for {
		got, err := s.ask()
		if err == nil {
			for i, a := range got {
				if want := fmt.Sprintf("served %d ok", first+i); a != want {
					t.Fatalf("answer %d: %q, want %q (all: %q)", i+1, a, want, got)
				}
			}
			return
		}
		if len(got) > 0 || time.Now().After(deadline) || p.exited() {
			t.Fatalf("asking the server: %v (answers so far %q)\n%s", err, got, p.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startServer starts test/progs/listen as as and waits for its ports.
func (hh *h) startServer(as []string) (*proc, server) {
	t := hh.t
	t.Helper()
	s := server{path: hh.path("srv.sock"), dgrm: hh.path("srv.dgram"),
		abstract: fmt.Sprintf("stasis-listen-%d-%d", os.Getpid(), time.Now().UnixNano())}
	out := hh.path("listen.out")
	p := hh.startProg("listen", append(as, prog(t, "listen"), s.path, s.abstract, s.dgrm), out)
	if as != nil {
		os.Chown(out, 65534, 65534)
		os.Chown(p.stderr, 65534, 65534)
	}
	var m []string
	hh.waitOutput(out, wait30, "its ready line", func(b []byte) (bool, error) {
		m = readyLine.FindStringSubmatch(string(b))
		return m != nil, nil
	}, p)
	s.tcp4, s.tcp6, s.udp = "127.0.0.1:"+m[1], "[::1]:"+m[2], "127.0.0.1:"+m[3]
	return p, s
}

// killAndRestart checkpoints p with --kill and opts as as, waits for its
// pid to be free, and restarts it as as.
func (hh *h) killAndRestart(as []string, p *proc, opts ...string) *proc {
	hh.t.Helper()
	return hh.killAndRestartWith(as, p, opts)
}

// TestListeners: the server answers six requests, is checkpointed with
// --kill, and its restarted copy answers the next six on the same
// addresses, counting on, with every option and mode it set still set
// (it checks them itself); as root and as uid 65534.
func TestListeners(t *testing.T) {
	needEngine(t)
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			if who == "nobody" {
				as = hh.nobody()
			}
			p, s := hh.startServer(as)
			s.served(t, 1, p)
			r := hh.killAndRestart(as, p)
			s.served(t, 7, r)
			s.served(t, 13, r)
			var st syscall.Stat_t
			if err := syscall.Stat(s.path, &st); err != nil || st.Mode&0o7777 != 0o640 || (as != nil && st.Uid != 65534) {
				t.Fatalf("%s after the restart: mode %o uid %d (%v)", s.path, st.Mode&0o7777, st.Uid, err)
			}
		})
	}
}

// TestListenerInUse: restarting a server whose checkpoint let it run
// (the original still holds its port) fails, naming the address, and
// the original serves on.
func TestListenerInUse(t *testing.T) {
	hh := newH(t)
	p, s := hh.startServer(nil)
	s.served(t, 1, p)
	img := hh.path("img")
	hh.checkpoint("--run", p.pid, img, wait30)
	r := hh.restartAs("restart", nil, img)
	t.Cleanup(func() {
		for _, d := range descendants(r.pid) {
			syscall.Kill(d, syscall.SIGKILL)
		}
	})
	if !r.wait(wait30) || r.state.Success() {
		t.Fatalf("the restart should fail while the original holds its addresses\n%s", r.describe())
	}
	e, _ := os.ReadFile(r.stderr)
	if !regexp.MustCompile(`bind ` + regexp.QuoteMeta(s.tcp4) + `: .*address already in use`).Match(e) {
		t.Fatalf("the failure does not name %s in use:\n%s", s.tcp4, e)
	}
	s.served(t, 7, p)
}

// TestHTTPServer: Python's http.server and a Go net/http server, idle,
// checkpointed with --kill and restarted, serve a 1 MiB file again byte
// for byte to new clients, and the Go one's request count goes on; as
// root and as uid 65534. Checkpointed while a client outside is midway
// through a 16 MiB download, the client's download ends whole as root
// (--tcp-established), and as uid 65534 (--tcp-close) it sees a reset
// and downloads the file again.
func TestHTTPServer(t *testing.T) {
	needEngine(t)
	src := "import http.server, functools, sys\n" +
		"h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\n" +
		"s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)\n" +
		"print('port', s.server_address[1], flush=True)\n" +
		"s.serve_forever()\n"
	for _, server := range []string{"python", "go"} {
		for _, who := range []string{"root", "nobody"} {
			for _, phase := range []string{"idle", "download"} {
				t.Run(server+"/"+who+"/"+phase, func(t *testing.T) {
					hh := newH(t)
					var as []string
					if who == "nobody" {
						as = hh.nobody()
					}
					site := hh.path("site")
					argv := []string{prog(t, "gohttp"), site}
					if server == "python" {
						py := python(t)
						if as != nil {
							py = "/usr/bin/python3" // one uid 65534 may run (not in /root/.pyenv)
						}
						argv = []string{py, "-c", src, site}
					}
					hh.httpServer(as, argv, site, server == "go", phase == "download")
				})
			}
		}
	}
}

// httpServer runs the server argv, which serves the directory site and
// prints "port N", through a checkpoint with --kill and a restart, idle
// or (mid) midway through a download; a counting server's /count goes on
// from where it was.
func (hh *h) httpServer(as, argv []string, site string, counts, mid bool) {
	t := hh.t
	t.Helper()
	data, big := makeSite(t, site)
	want := sha256.Sum256(data)
	p, port := hh.startHTTP(as, argv)
	get := func(p *proc, path string) []byte {
		t.Helper()
		return httpGet(t, p, port, path)
	}
	check := func(p *proc, n int) {
		t.Helper()
		if b := get(p, "/data.bin"); sha256.Sum256(b) != want {
			t.Fatalf("GET /data.bin: %d bytes, not the file", len(b))
		}
		if !counts {
			return
		}
		if got, want := string(get(p, "/count")), fmt.Sprintf("count %d\n", n); got != want {
			t.Fatalf("GET /count: %q, want %q", got, want)
		}
	}
	check(p, 1)
	if !mid {
		r := hh.killAndRestart(as, p)
		for n := 2; n <= 4; n++ {
			check(r, n)
		}
		return
	}
	// With a client outside the image midway through a download (its
	// socket's queues and the server's full): as root the connection is
	// saved to go on and the download ends whole; as uid 65534 it is
	// saved as reset, and the client sees ECONNRESET, then downloads the
	// file again.
	d := startDownload(t, port, "/big.bin")
	opt := "--tcp-established"
	if as != nil {
		opt = "--tcp-close"
	}
	r := hh.killAndRestart(as, p, opt)
	body, err := d.rest()
	says := `fd \d+: tcp 127\.0\.0\.1:` + port + ` connected to 127\.0\.0\.1:\d+, outside the image: its packets held by nftables table inet stasis-[0-9a-f]{16} until the restart`
	if as != nil {
		says = `fd \d+: tcp 127\.0\.0\.1:` + port + ` connected to 127\.0\.0\.1:\d+, outside the image: restored reset \(--tcp-close\)`
	}
	if info := hh.run(wait30, bin(t, "cr_info"), hh.path("img")); !regexp.MustCompile(says).MatchString(info.stdout) {
		t.Errorf("cr_info does not say %q:\n%s", says, info)
	}
	switch {
	case as == nil && err != nil:
		t.Fatalf("the download through %s: %v after %d bytes", opt, err, len(body))
	case as == nil && sha256.Sum256(body) != sha256.Sum256(big):
		t.Fatalf("the download through %s: %d bytes, not the file", opt, len(body))
	case as != nil && !errors.Is(err, syscall.ECONNRESET):
		t.Fatalf("the download through %s: %d bytes, %v, want ECONNRESET", opt, len(body), err)
	}
	if as != nil {
		if b := get(r, "/big.bin"); sha256.Sum256(b) != sha256.Sum256(big) {
			t.Fatalf("GET /big.bin again: %d bytes, not the file", len(b))
		}
	}
	check(r, 2)
}

// makeSite makes the directory site with data.bin (1 MiB) and big.bin
// (16 MiB) in it, and returns what they hold.
func makeSite(t *testing.T, site string) (data, big []byte) {
	t.Helper()
	if err := os.Mkdir(site, 0o755); err != nil {
		t.Fatal(err)
	}
	data, big = make([]byte, 1<<20), make([]byte, 16<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	for i := range big {
		big[i] = byte(i*13 + i>>9)
	}
	for name, b := range map[string][]byte{"data.bin": data, "big.bin": big} {
		if err := os.WriteFile(filepath.Join(site, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return data, big
}

// startHTTP starts the server argv, which prints "port N", and returns
// it and N.
func (hh *h) startHTTP(as, argv []string) (*proc, string) {
	t := hh.t
	t.Helper()
	out := hh.path("http.out")
	p := hh.startProg("http", append(as, argv...), out)
	if as != nil {
		os.Chown(out, 65534, 65534)
		os.Chown(p.stderr, 65534, 65534)
	}
	var port string
	hh.waitOutput(out, wait30, "its port", func(b []byte) (bool, error) {
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "port" {
				port = f[1]
				return true, nil
			}
		}
		return false, nil
	}, p)
	return p, port
}

// TestTCPOutsideCheckpointKilled: cr_checkpoint --tcp-established
// --kill, killed with SIGKILL while it holds a download's packets (the
// image it writes is stuck in a pipe nobody reads), takes its rule with
// it: the server goes on, and the download ends whole.
func TestTCPOutsideCheckpointKilled(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	site := hh.path("site")
	_, big := makeSite(t, site)
	p, port := hh.startHTTP(nil, []string{prog(t, "gohttp"), site})
	d := startDownload(t, port, "/big.bin")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	c := hh.start("checkpoint", []string{bin(t, "cr_checkpoint"), "--tcp-established", "--kill", "-F", "3", strconv.Itoa(p.pid)}, startOpts{extra: []*os.File{pw}})
	pw.Close()
	// Stuck once the pipe is full: the connection is held by then.
	for deadline := time.Now().Add(wait30); ; time.Sleep(10 * time.Millisecond) {
		if n, _ := unix.IoctlGetInt(int(pr.Fd()), unix.SIOCINQ); n >= 65536 { // FIONREAD
			break
		}
		if time.Now().After(deadline) || c.exited() {
			t.Fatalf("cr_checkpoint never filled the pipe\n%s", c.describe())
		}
	}
	syscall.Kill(c.pid, syscall.SIGKILL)
	c.wait(10 * time.Second)
	body, err := d.rest()
	if err != nil || sha256.Sum256(body) != sha256.Sum256(big) {
		t.Fatalf("after cr_checkpoint was killed, the download: %d of %d bytes, %v", len(body), len(big), err)
	}
	if p.exited() {
		t.Fatalf("the server ended\n%s", p.describe())
	}
}

// download is an HTTP GET, over a connection of its own, read partly.
type download struct {
	conn net.Conn
	br   *bufio.Reader
	got  []byte
	size int64
	// within is how long rest waits (0: wait30).
	within time.Duration
}

// startDownload asks for path and reads the first MiB of its body, then
// stops reading: the rest fills the connection's queues.
func startDownload(t *testing.T, port, path string) *download {
	t.Helper()
	conn, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(wait30))
	d := &download{conn: conn, br: bufio.NewReader(conn)}
	resp, err := http.ReadResponse(d.br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %v", path, resp, err)
	}
	d.size = resp.ContentLength
	d.got = make([]byte, 1<<20)
	if _, err := io.ReadFull(d.br, d.got); err != nil {
		t.Fatalf("GET %s: the first MiB: %v", path, err)
	}
	time.Sleep(200 * time.Millisecond) // the queues fill
	return d
}

// rest reads the rest of the body, returning all of it.
func (d *download) rest() ([]byte, error) {
	within := wait30
	if d.within > 0 {
		within = d.within
	}
	d.conn.SetDeadline(time.Now().Add(within))
	rest, err := io.ReadAll(io.LimitReader(d.br, d.size-int64(len(d.got))))
	body := append(d.got, rest...)
	if err == nil && int64(len(body)) != d.size {
		err = io.ErrUnexpectedEOF
	}
	return body, err
}

// TestPreforkListener: a pre-forking server, whose two children accept
// on the listener their parent made, checkpointed as a tree and
// restarted: the children share one listener again, and each one's own
// count goes on.
func TestPreforkListener(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	src := `import socket, os, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(8)
print("port", s.getsockname()[1], flush=True)
n = 0
for i in range(2):
    if os.fork() == 0:
        while True:
            c, _ = s.accept(); n += 1
            c.sendall(b"child %d n %d\n" % (i, n)); c.close()
s.close()
while True:
    time.sleep(1)
`
	out := hh.path("prefork.out")
	p := hh.startProg("prefork", []string{python(t), "-c", src}, out)
	var port string
	hh.waitOutput(out, wait30, "its port", func(b []byte) (bool, error) {
		f := strings.Fields(string(b))
		if len(f) >= 2 && f[0] == "port" {
			port = f[1]
			return true, nil
		}
		return false, nil
	}, p)
	// The children take turns (both wait in accept); what matters is
	// that each child's count goes on: 4 answers per child in all.
	ask := func(r *proc, want map[string]int) {
		t.Helper()
		for range 4 {
			deadline := time.Now().Add(wait30)
			for {
				c, err := net.DialTimeout("tcp4", "127.0.0.1:"+port, 2*time.Second)
				if err == nil {
					c.SetDeadline(time.Now().Add(5 * time.Second))
					b, _ := io.ReadAll(c)
					c.Close()
					var child, n int
					if _, err := fmt.Sscanf(string(b), "child %d n %d", &child, &n); err != nil {
						t.Fatalf("answer %q", b)
					}
					k := strconv.Itoa(child)
					if want[k]++; n != want[k] {
						t.Fatalf("child %d answered n %d, want %d", child, n, want[k])
					}
					break
				}
				if time.Now().After(deadline) || r.exited() {
					t.Fatalf("connecting: %v\n%s", err, r.describe())
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	counts := map[string]int{}
	ask(p, counts)
	r := hh.killAndRestart(nil, p)
	ask(r, counts)
	for _, d := range descendants(r.pid) {
		syscall.Kill(d, syscall.SIGKILL)
	}
}
