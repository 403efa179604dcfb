package e2e

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"stasis/internal/image"
)

// autoName is a name autobind gives.
var autoName = regexp.MustCompile(`^@[0-9a-f]{5}$`)

var dgramTick = regexp.MustCompile(`^tick (\d+) P u=(\d+)/([0-9a-f]{16}) n=(\d+)/([0-9a-f]{16}) r=(\d+)/([0-9a-f]{16}) A u=(\d+)/([0-9a-f]{16}) n=(\d+)/([0-9a-f]{16}) r=(\d+)/([0-9a-f]{16})$`)

// dgramStream is one stream of test/progs/dgram's datagrams, whose hash
// after each count the test computes as the program does.
type dgramStream struct {
	tag    string
	kind   int      // 0: an unbound client's; 1: a bound one's; 2: the replies to a bound one
	hashes []uint64 // after 0, 1, 2... datagrams
}

func (s *dgramStream) datagram(k int64) []byte {
	payload := func(i, letters int64) []byte {
		b := []byte(fmt.Sprintf("%s %d ", s.tag, i))
		for j := int64(0); j < letters; j++ {
			b = append(b, byte('a'+(i+j)%26))
		}
		return b
	}
	switch {
	case s.kind == 2:
		return payload(k+1, (k+1)*7%31)
	case s.kind == 1:
		return payload(k+1, (k+1)%29)
	case k%6 == 5:
		return nil // each fifth is followed by an empty one
	}
	i := k - k/6 + 1
	return payload(i, i%29)
}

// hash is the program's hash of the first n datagrams: FNV-1a 64 from
// 0, over each datagram's length mod 256 and its bytes.
func (s *dgramStream) hash(n int64) uint64 {
	if len(s.hashes) == 0 {
		s.hashes = []uint64{0}
	}
	for int64(len(s.hashes)) <= n {
		k := int64(len(s.hashes)) - 1
		b := s.datagram(k)
		h := s.hashes[k]
		h = (h ^ uint64(byte(len(b)))) * 1099511628211
		for _, c := range b {
			h = (h ^ uint64(c)) * 1099511628211
		}
		s.hashes = append(s.hashes, h)
	}
	return s.hashes[n]
}

// checkDgramTicks recomputes every hash of dgram's output from its
// counts, and requires the counts never to go back.
func checkDgramTicks(t *testing.T, out string) {
	t.Helper()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	streams := []*dgramStream{{tag: "Pu"}, {tag: "Pn", kind: 1}, {tag: "rPn", kind: 2}, {tag: "Au"}, {tag: "An", kind: 1}, {tag: "rAn", kind: 2}}
	last := make([]int64, len(streams))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, line := range lines {
		m := dgramTick.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s: line %q", out, line)
		}
		for i, s := range streams {
			n, _ := strconv.ParseInt(m[2+2*i], 10, 64)
			h, _ := strconv.ParseUint(m[3+2*i], 16, 64)
			if n < last[i] {
				t.Fatalf("%s: %s went back from %d to %d datagrams: %q", out, s.tag, last[i], n, line)
			}
			if want := s.hash(n); h != want {
				t.Fatalf("%s: %s's hash after %d datagrams is %016x, want %016x: %q", out, s.tag, n, h, want, line)
			}
			last[i] = n
		}
	}
	t.Logf("%d ticks; at the end, datagrams got (Pu Pn rPn Au An rAn): %v", len(lines), last)
}

// dgramQueues counts, in the image img, the datagrams waiting on bound
// unix datagram sockets connected to nothing (with their senders' names)
// and on datagram sockets connected to one of the image.
func dgramQueues(t *testing.T, img string) (servers, clients int, from map[string]int) {
	t.Helper()
	from = map[string]int{}
	rewrite(t, img, img+".copy", func(p *image.Process) {
		for _, f := range p.Fds {
			if l := f.Listener; l != nil {
				servers += len(l.Queue)
				for _, n := range l.From {
					from[n]++
				}
			}
			if sk := f.Socket; sk != nil && sk.Connect != "" {
				clients += len(sk.Queue)
			}
		}
	})
	os.Remove(img + ".copy")
	return servers, clients, from
}

// startDgram starts test/progs/dgram as as, its servers bound to
// srv.sock and the abstract name returned with "-srv", its bound clients
// to cli.sock and that name with "-cli" (autobind: one the kernel picks),
// and waits for its third tick.
func (hh *h) startDgram(as []string, autobind bool) (p *proc, out, abstract string) {
	hh.t.Helper()
	abstract = fmt.Sprintf("@stasis-dgram-%d-%d", os.Getpid(), time.Now().UnixNano())
	client := abstract + "-cli"
	if autobind {
		client = "auto"
	}
	out = hh.path("out")
	p = hh.startProg("dgram", append(as, prog(hh.t, "dgram"), hh.path("srv.sock"), abstract+"-srv", hh.path("cli.sock"), client), out)
	if as != nil {
		os.Chown(out, 65534, 65534)
		os.Chown(p.stderr, 65534, 65534)
	}
	hh.waitSeq(out, seqSpec{dgramTick, 1}, 3, wait30, p)
	return p, out, abstract
}

// TestDgramServers: test/progs/dgram's syslog-like servers, bound to a
// path and to an abstract name, each with an unbound client connected to
// it and one bound to a name of its own that it replies to (as uid 65534,
// the abstract server's client has the name autobind gave it), the clients
// in a child process, checkpointed as a tree with --kill while datagrams
// wait on the servers and replies on the clients, and restarted three
// times as root and once as uid 65534. The program checks every
// datagram's sender address (none, or the bound client's name) and
// number; the test recomputes the hashes of the streams each end
// received, so not a datagram, an empty one included, is lost, doubled,
// reordered or changed; and every image is required to have held
// datagrams waiting on both servers from both kinds of client, and
// replies on the bound clients.
func TestDgramServers(t *testing.T) {
	needEngine(t)
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			gens := 3
			if who == "nobody" {
				as, gens = hh.nobody(), 1
			}
			p, out, abstract := hh.startDgram(as, who == "nobody")
			seq := seqSpec{dgramTick, 1}
			hh.generations(as, p, out, seq, gens)
			checkDgramTicks(t, out)
			for gen := 1; gen <= gens; gen++ {
				s, c, from := dgramQueues(t, hh.path("img"+strconv.Itoa(gen)))
				t.Logf("image %d: %d datagrams waiting on the servers, from %v; %d on the clients", gen, s, from, c)
				abstractClient := from[abstract+"-cli"]
				if who == "nobody" {
					for n, k := range from {
						if autoName.MatchString(n) {
							abstractClient += k
						}
					}
				}
				if s == 0 || from[""] == 0 || from[hh.path("cli.sock")] == 0 || abstractClient == 0 || c == 0 {
					t.Errorf("image %d held %d datagrams waiting on the servers (from %v) and %d on the clients: the test proves less than it should", gen, s, from, c)
				}
			}
		})
	}
}

// TestDgramEdited: an image whose saved datagrams name a sender no
// socket of it is bound to, or lack their senders, is refused at restart
// as damaged, and nothing is left running.
func TestDgramEdited(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	p, _, _ := hh.startDgram(nil, false)
	img := hh.path("img")
	if res := hh.run(wait30, bin(t, "cr_checkpoint"), "--tree", "--kill", "-f", img, strconv.Itoa(p.pid)); res.code != 0 {
		t.Fatalf("checkpoint:\n%s", res)
	}
	p.wait(10 * time.Second)
	for _, c := range []struct {
		name string
		edit func(l *image.Listener)
		want string
	}{
		{"unknown sender", func(l *image.Listener) { l.From[0] = "@stasis-nobody-has-this" }, `from @stasis-nobody-has-this, which no datagram socket of the image is bound to: image damaged`},
		{"senders missing", func(l *image.Listener) { l.From = l.From[1:] }, `with \d+ datagrams waiting from \d+ senders: image damaged`},
	} {
		t.Run(c.name, func(t *testing.T) {
			edited := hh.path("edited")
			done := false
			rewrite(t, img, edited, func(p *image.Process) {
				for _, f := range p.Fds {
					if l := f.Listener; l != nil && len(l.Queue) > 0 && !done {
						c.edit(l)
						done = true
					}
				}
			})
			if !done {
				t.Fatal("no datagram waited on a server at the checkpoint")
			}
			res := hh.run(wait30, bin(t, "cr_restart"), edited)
			if res.code == 0 || !regexp.MustCompile(c.want).MatchString(res.stderr) {
				t.Fatalf("want a refusal matching %q, got\n%s", c.want, res)
			}
		})
	}
}

// TestDgramOutside: a datagram waiting on a bound unix datagram socket
// of the image from a sender bound to a name outside it (the test's own
// socket) is refused by name, with the pid and fd of the socket it waits
// on and why; the job runs on.
func TestDgramOutside(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	path, sender := hh.path("srv.sock"), hh.path("outside.sock")
	src := `import select, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
select.select([s], [], [], 30)
print("ready", flush=True)
time.sleep(60)
`
	out := hh.path("out")
	p := hh.startProg("server", []string{python(t), "-c", src, path}, out)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sender, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(wait30); ; time.Sleep(10 * time.Millisecond) {
		if _, err := c.WriteToUnix([]byte("x"), &net.UnixAddr{Name: path, Net: "unixgram"}); err == nil {
			break
		}
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("the server never bound %s\n%s", path, p.describe())
		}
	}
	hh.waitOutput(out, wait30, "ready", func(b []byte) (bool, error) { return strings.Contains(string(b), "ready"), nil }, p)
	r := hh.run(wait30, bin(t, "cr_checkpoint"), "-f", hh.path("img"), strconv.Itoa(p.pid))
	want := regexp.MustCompile(fmt.Sprintf(`pid %d fd 3 \(socket:\[\d+\]\): unix datagram socket, its queue: datagram 1: from %s, a socket outside the image: a restart could not send it again from that name; checkpoint once it is read, or with its sender`, p.pid, regexp.QuoteMeta(sender)))
	if r.code == 0 || !want.MatchString(r.stderr) {
		t.Fatalf("want a refusal matching %q, got\n%s", want, r)
	}
	if p.exited() {
		t.Fatalf("the job did not run on\n%s", p.describe())
	}
}
