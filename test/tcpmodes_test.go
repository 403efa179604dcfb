package e2e

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"stasis/internal/netlock"
)

// TestTCPOutsideRestartModes: what becomes of a connection to a client
// outside that cr_checkpoint --tcp-established saved, when the restart
// cannot or must not put it back. Restarted with --tcp-close, the client
// sees a reset and the server serves again. A user restarting an image
// of theirs that root checkpointed so is told to use --tcp-close; with
// it the server serves again, and cr_restart names the table it could
// not remove, after which the client sees a reset. And a --run image
// restarted while its original still holds the connection is refused,
// naming the connection: two sockets would answer for it.
func TestTCPOutsideRestartModes(t *testing.T) {
	needEngine(t)
	if os.Geteuid() != 0 {
		t.Fatal("needs root: --tcp-established")
	}
	t.Run("close-at-restart", func(t *testing.T) {
		hh := newH(t)
		newTables := tablesSince(t)
		site := hh.path("site")
		_, big := makeSite(t, site)
		p, port := hh.startHTTP(nil, []string{prog(t, "gohttp"), site})
		d := startDownload(t, port, "/big.bin")
		r := hh.killAndRestartWith(nil, p, []string{"--tcp-established"}, "--tcp-close")
		// Told at once by cr_restart, not by its own keep-alive 15 s
		// later.
		d.within = 5 * time.Second
		body, err := d.rest()
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("the download: %d bytes, %v, want ECONNRESET", len(body), err)
		}
		if b := httpGet(t, r, port, "/big.bin"); sha256.Sum256(b) != sha256.Sum256(big) {
			t.Fatalf("GET /big.bin after the restart: %d bytes, not the file", len(b))
		}
		if left := newTables(); len(left) > 0 {
			t.Fatalf("tables left after cr_restart --tcp-close: %v\n%s", left, r.describe())
		}
	})
	t.Run("user-restarts", func(t *testing.T) {
		hh := newH(t)
		tablesSince(t)
		as := hh.nobody()
		site := hh.path("site")
		_, big := makeSite(t, site)
		p, port := hh.startHTTP(as, []string{prog(t, "gohttp"), site})
		d := startDownload(t, port, "/big.bin")
		img := hh.path("img")
		if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--tcp-established", "--kill", "-f", img, strconv.Itoa(p.pid)); r.code != 0 {
			t.Fatalf("checkpoint:\n%s", r)
		}
		hh.waitReaped(p, "checkpointed with --kill")
		waitGone(p.pid, 10*time.Second)
		if err := os.Chown(img, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		refused := hh.run(wait30, append(as, bin(t, "cr_restart"), img)...)
		if refused.code == 0 || !strings.Contains(refused.stderr, "--tcp-close") {
			t.Fatalf("uid 65534 restarting a --tcp-established image: want a refusal naming --tcp-close\n%s", refused)
		}
		waitGone(p.pid, 10*time.Second)
		r := hh.restartAs("restart", as, "--tcp-close", img)
		t.Cleanup(func() {
			for _, d := range descendants(r.pid) {
				syscall.Kill(d, syscall.SIGKILL)
			}
		})
		if b := httpGet(t, r, port, "/big.bin"); sha256.Sum256(b) != sha256.Sum256(big) {
			t.Fatalf("GET /big.bin after the restart: %d bytes, not the file", len(b))
		}
		// The table holding the client's packets is root's to remove:
		// cr_restart says so, naming it. Once it goes, the client's next
		// retransmission finds no socket and is reset.
		m := regexp.MustCompile(`nft delete table inet (stasis-[0-9a-f]{16})`).FindStringSubmatch(stderrOf(r))
		if m == nil {
			t.Fatalf("cr_restart --tcp-close as uid 65534 does not name the table it left:\n%s", r.describe())
		}
		if err := netlock.Release(m[1], "/proc/self/ns/net"); err != nil {
			t.Fatalf("removing %s: %v", m[1], err)
		}
		if body, err := d.rest(); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("the download: %d bytes, %v, want ECONNRESET", len(body), err)
		}
	})
	t.Run("original-runs", func(t *testing.T) {
		// A client connected to a server outside (this test), answering
		// each number with the next.
		hh := newH(t)
		newTables := tablesSince(t)
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		src := "import socket, sys\n" +
			"s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n" +
			"print('connected', flush=True)\n" +
			"f = s.makefile('rw')\n" +
			"for l in f:\n" +
			"    f.write('%d\\n' % (int(l) + 1)); f.flush()\n"
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		out := hh.path("client.out")
		p := hh.startProg("client", []string{python(t), "-c", src, port}, out)
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(wait30))
		br := bufio.NewReader(conn)
		ask := func(n int) {
			t.Helper()
			fmt.Fprintf(conn, "%d\n", n)
			if l, err := br.ReadString('\n'); err != nil || l != fmt.Sprintf("%d\n", n+1) {
				t.Fatalf("asked %d, the client said %q, %v\n%s", n, l, err, p.describe())
			}
		}
		ask(1)
		img := hh.path("img")
		if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--tcp-established", "-f", img, strconv.Itoa(p.pid)); r.code != 0 {
			t.Fatalf("checkpoint:\n%s", r)
		}
		ask(2)
		refused := hh.run(wait30, bin(t, "cr_restart"), "--no-restore-pid", img)
		says := `tcp 127\.0\.0\.1:\d+ connected to 127\.0\.0\.1:` + port + `: .*in use`
		if refused.code == 0 || !regexp.MustCompile(says).MatchString(refused.stderr) {
			t.Fatalf("a --run image restarted beside its original: want a refusal matching %q\n%s", says, refused)
		}
		ask(3)
		if left := newTables(); len(left) > 0 {
			t.Fatalf("tables left after the refused restart: %v", left)
		}
	})
}

// killAndRestartWith checkpoints p with --kill and ckpt as as, waits for
// its pid to be free, and restarts it as as with opts.
func (hh *h) killAndRestartWith(as []string, p *proc, ckpt []string, opts ...string) *proc {
	t := hh.t
	t.Helper()
	img := hh.path("img")
	argv := append(append(as[:len(as):len(as)], bin(t, "cr_checkpoint"), "--kill", "-f", img), ckpt...)
	if r := hh.run(wait30, append(argv, strconv.Itoa(p.pid))...); r.code != 0 {
		t.Fatalf("checkpoint:\n%s", r)
	}
	hh.waitReaped(p, "checkpointed with --kill")
	waitGone(p.pid, 10*time.Second)
	r := hh.restartAs("restart", as, append(opts, img)...)
	t.Cleanup(func() {
		killRestored(p.pid, r.pid)
		for _, d := range descendants(r.pid) {
			syscall.Kill(d, syscall.SIGKILL)
		}
	})
	return r
}

// stasisTables lists the nftables tables named stasis-* of this network
// namespace.
func stasisTables(t *testing.T) []string {
	t.Helper()
	names, err := netlock.Tables()
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// tablesSince returns a function listing the stasis-* tables made since
// it was called; tables a failed test leaves are removed at its end.
func tablesSince(t *testing.T) func() []string {
	t.Helper()
	before := map[string]bool{}
	for _, n := range stasisTables(t) {
		before[n] = true
	}
	since := func() []string {
		var made []string
		for _, n := range stasisTables(t) {
			if !before[n] {
				made = append(made, n)
			}
		}
		return made
	}
	t.Cleanup(func() {
		for _, n := range since() {
			netlock.Release(n, "/proc/self/ns/net")
		}
	})
	return since
}

// httpGet gets path from the server p on 127.0.0.1:port, trying again
// until it answers (for wait30), and returns the body of a 200.
func httpGet(t *testing.T, p *proc, port, path string) []byte {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://127.0.0.1:" + port + path
	deadline := time.Now().Add(wait30)
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET %s: status %d, %d bytes, err %v", url, resp.StatusCode, len(b), err)
			}
			return b
		}
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("GET %s: %v\n%s", url, err, p.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stderrOf is what p has written to its stderr so far.
func stderrOf(p *proc) string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}
