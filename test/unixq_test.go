package e2e

import (
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"stasis/internal/image"
)

var unixqTick = regexp.MustCompile(`^tick (\d+) ok pid=(\d+) uid=(\d+) gid=(\d+)$`)

// TestUnixQueueFds: test/progs/unixq's sender keeps messages queued to
// its receiver, each passing the sender's pipe write end (whose read end
// the receiver holds), its end of a stream socket pair (whose other end
// the receiver holds), and an eventfd and a memfd that both hold, with
// the sender's credentials (SO_PASSCRED),
// over a seqpacket pair and over a datagram one (whose receiving end the
// kernel has bound to an abstract name by then);
// checkpointed with --kill and restarted three times as root and once as
// uid 65534, the receiver goes on reading every message in order,
// writes through each end it is passed and reads the bytes back from its
// own (the eventfd's count, the memfd's line at the offset it shares),
// and gets with each the credentials of its sender: the pid the
// program's fork returned (in the restored pid namespace too) and the
// sender's uid and gid, as the sender itself says them. Each image held
// such messages in flight.
func TestUnixQueueFds(t *testing.T) {
	needEngine(t)
	for _, who := range []string{"root/seqpacket", "root/dgram", "nobody/seqpacket", "nobody/dgram"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			gens, uid := 3, 0
			if strings.HasPrefix(who, "nobody") {
				as, gens, uid = hh.nobody(), 1, 65534
			}
			out := hh.path("out")
			p := hh.startProg("unixq", append(as, prog(t, "unixq"), path.Base(who)), out)
			if as != nil {
				os.Chown(out, 65534, 65534)
				os.Chown(p.stderr, 65534, 65534)
			}
			seq := seqSpec{unixqTick, 1}
			hh.waitSeq(out, seq, 3, wait30, p)
			kids := descendants(p.pid)
			if len(kids) != 1 {
				t.Fatalf("unixq: want one child, have %v", kids)
			}
			hh.generations(as, p, out, seq, gens)
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("pid=%d uid=%d gid=%d", kids[0], uid, uid)
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if !strings.HasSuffix(line, want) {
					t.Fatalf("line %q: want the credentials %s", line, want)
				}
			}
			for gen := 1; gen <= gens; gen++ {
				passed, creds := inFlight(t, hh.path("img"+strconv.Itoa(gen)))
				t.Logf("image %d: %d files in flight as fds of its processes, %d messages with credentials", gen, passed, creds)
				if passed == 0 || creds == 0 {
					t.Errorf("image %d: %d files in flight as fds of its processes, %d messages with credentials: the test proved nothing", gen, passed, creds)
				}
			}
		})
	}
}

// inFlight counts, in the image img, the files in flight in socket queues
// that are fds of its processes, and the queued messages that carry
// credentials.
func inFlight(t *testing.T, img string) (passed, creds int) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, _, err := image.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return passed, creds
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type != image.RecProcess {
			continue
		}
		p, err := rd.Process()
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range p.Fds {
			if fd.Socket == nil {
				continue
			}
			creds += len(fd.Socket.Creds)
			for _, files := range fd.Socket.Passed {
				for _, pf := range files {
					if pf.Same != nil {
						passed++
					}
				}
			}
		}
	}
}

// TestUnixQueueRefused: what a restart could not send again as it was is
// refused by name: a pipe end in flight that no process holds any more
// (test/progs/unixq orphan), and a message whose credentials name a
// sender that has exited (unixq gone); the refusal names the receiver's
// pid and fd, what is passed or who sent it, and why.
func TestUnixQueueRefused(t *testing.T) {
	needEngine(t)
	cases := []struct {
		mode  string
		ready *regexp.Regexp
		want  string // a regexp; PID, FD and SENDER stand for the numbers the program printed
	}{
		{"orphan", regexp.MustCompile(`^orphan pid=(\d+) fd=(\d+)()$`),
			`pid PID fd FD \(socket:\[\d+\]\): its queue: message 1: it passes pipe:\[\d+\], which no process of the checkpoint holds, and a restart cannot make again`},
		{"gone", regexp.MustCompile(`^gone pid=(\d+) fd=(\d+) sender=(\d+)$`),
			`pid PID fd FD \(socket:\[\d+\]\): its queue: message 1: its sender, pid SENDER as its credentials \(SO_PASSCRED\) name it, is not a live process of the checkpoint \(it has exited, or is outside it\)`},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			hh := newH(t)
			out := hh.path("out")
			p := hh.startProg("unixq", []string{prog(t, "unixq"), c.mode}, out)
			var m []string
			hh.waitOutput(out, wait30, c.ready.String(), func(b []byte) (bool, error) {
				m = c.ready.FindStringSubmatch(strings.TrimSpace(string(b)))
				return m != nil, nil
			}, p)
			r := hh.run(wait30, bin(t, "cr_checkpoint"), "--tree", "-f", hh.path("img"), strconv.Itoa(p.pid))
			want := regexp.MustCompile(strings.NewReplacer("PID", m[1], "FD", m[2], "SENDER", m[3]).Replace(c.want))
			if r.code == 0 || !want.MatchString(r.stderr) {
				t.Fatalf("want a refusal matching %q, got\n%s", want, r)
			}
			if p.exited() {
				t.Fatalf("the refused checkpoint ended the job\n%s", p.describe())
			}
		})
	}
}
