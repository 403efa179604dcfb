package e2e

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSocketRefusalSays: a checkpoint refused for a socket says which
// case it is, with family and addresses, and which issue covers it: a
// TCP listener, a TCP connection, a unix listener bound to a path.
func TestSocketRefusalSays(t *testing.T) {
	needEngine(t)
	py := python(t)
	cases := []struct {
		name, src string
		want      string // a regexp; PATH stands for the socket's path
	}{
		{"tcp listening", `s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()`,
			`fd \d+: tcp 127\.0\.0\.1:\d+ listening \(socket:\[\d+\]\): not checkpointable \(TCP and UDP sockets: issue 15\)`},
		{"tcp connected", `a = socket.socket(); a.bind(("127.0.0.1", 0)); a.listen(); c = socket.create_connection(a.getsockname()); s, _ = a.accept(); a.close()`,
			`fd \d+: tcp 127\.0\.0\.1:\d+ connected to 127\.0\.0\.1:\d+ \(socket:\[\d+\]\): not checkpointable \(TCP and UDP sockets: issue 15\)`},
		{"unix listening", `s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()`,
			`fd \d+: unix stream PATH listening \(socket:\[\d+\]\): not checkpointable \(unix sockets other than connected pairs inside the image: issue 15\)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hh := newH(t)
			path := hh.path("sock")
			src := "import socket, sys, time\n" + c.src + "\nprint('ready', flush=True)\ntime.sleep(60)\n"
			out := hh.path("out")
			p := hh.startProg("server", []string{py, "-c", src, path}, out)
			for deadline := time.Now().Add(wait30); ; time.Sleep(10 * time.Millisecond) {
				if b, _ := os.ReadFile(out); strings.Contains(string(b), "ready") {
					break
				}
				if time.Now().After(deadline) || p.exited() {
					t.Fatalf("the server never got ready\n%s", p.describe())
				}
			}
			r := hh.run(wait30, bin(t, "cr_checkpoint"), "-f", hh.path("img"), strconv.Itoa(p.pid))
			want := regexp.MustCompile(strings.ReplaceAll(c.want, "PATH", regexp.QuoteMeta(path)))
			if r.code == 0 || !want.MatchString(r.stderr) {
				t.Fatalf("want a refusal matching %q, got\n%s", want, r)
			}
		})
	}
}
