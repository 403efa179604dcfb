package e2e

import (
	"errors"
	"net"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// acceptQSrc listens on TCP and on a unix path and accepts nothing until
// the file "go" exists; then it answers each client with "hello".
const acceptQSrc = `import os, select, socket, sys, time
t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen(8)
u = socket.socket(socket.AF_UNIX); u.bind(sys.argv[1]); u.listen(8)
print("port %d" % t.getsockname()[1], flush=True)
while not os.path.exists("go"):
    time.sleep(0.02)
while True:
    for l in select.select([t, u], [], [])[0]:
        c, _ = l.accept()
        c.sendall(b"hello")
        c.close()
`

// TestAcceptQueueReset: connections that wait in a listener's accept
// queue are not in an image; with --kill their clients see a reset (as
// README says), over TCP and over a unix socket, and the restarted server
// serves new clients on both.
func TestAcceptQueueReset(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	sock := hh.path("srv.sock")
	out := hh.path("out")
	p := hh.startProg("server", []string{python(t), "-c", acceptQSrc, sock}, out)
	var port string
	hh.waitOutput(out, wait30, "its port", func(b []byte) (bool, error) {
		m := regexp.MustCompile(`port (\d+)`).FindSubmatch(b)
		if m != nil {
			port = string(m[1])
		}
		return m != nil, nil
	}, p)
	tc, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	uc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	img := hh.path("img")
	if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(p.pid)); r.code != 0 {
		t.Fatalf("checkpoint:\n%s", r)
	}
	hh.waitReaped(p, "--kill")
	for name, c := range map[string]net.Conn{"tcp": tc, "unix": uc} {
		c.SetReadDeadline(time.Now().Add(wait30))
		if _, err := c.Read(make([]byte, 8)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s client waiting in the accept queue, after --kill: read gave %v, want a reset", name, err)
		}
	}
	waitGone(p.pid, 10*time.Second)
	r := hh.restart("restart", img, p.pid, nil)
	if err := os.WriteFile(hh.path("go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, a := range [][2]string{{"tcp", "127.0.0.1:" + port}, {"unix", sock}} {
		var c net.Conn
		for deadline := time.Now().Add(wait30); ; time.Sleep(20 * time.Millisecond) {
			if c, err = net.Dial(a[0], a[1]); err == nil {
				break
			}
			if time.Now().After(deadline) || r.exited() {
				t.Fatalf("%s: a new client after the restart: %v\n%s", a[0], err, r.describe())
			}
		}
		c.SetReadDeadline(time.Now().Add(wait30))
		b := make([]byte, 8)
		n, _ := c.Read(b)
		c.Close()
		if string(b[:n]) != "hello" {
			t.Errorf("%s: a new client after the restart got %q, want hello", a[0], b[:n])
		}
	}
}
