package e2e

// TCP connections between processes of the image, saved and restored
// with TCP_REPAIR (root only).

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var tcpTick = regexp.MustCompile(`^tick (\d+) ok \d+$`)

// tcpReceived reads the last count of numbers the server received.
func tcpReceived(t *testing.T, out string) int64 {
	t.Helper()
	b, _ := os.ReadFile(out)
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	f := strings.Fields(ls[len(ls)-1])
	n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
	return n
}

// TestTCPPair: a server and its client, over TCP on loopback with both
// queues of both ends full, pass checked streams of numbers through a
// --run checkpoint (the original goes on undisturbed) and three
// generations of --kill checkpoint and restart: the streams go on with
// not a byte lost, doubled or reordered (the programs check every
// number), and the server's count of numbers received keeps growing.
func TestTCPPair(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	out := hh.path("tcppair.out")
	seq := seqSpec{tcpTick, 1}
	p := hh.startProg("tcppair", []string{prog(t, "tcppair")}, out)
	hh.waitSeq(out, seq, 10, wait30, p)
	hh.checkpoint("--run", p.pid, hh.path("run.img"), wait30)
	got := tcpReceived(t, out)
	last := hh.waitSeq(out, seq, hh.lastSeq(out, seq)+10, wait30, p)
	if tcpReceived(t, out) <= got {
		t.Fatalf("after the --run checkpoint the stream stopped at %d numbers", got)
	}
	pid := p.pid
	r := p
	for gen := 1; gen <= 3; gen++ {
		img := hh.path("img" + strconv.Itoa(gen))
		tree := append([]int{pid}, descendants(pid)...)
		hh.checkpoint("--kill", pid, img, wait30)
		if gen == 1 {
			hh.waitReaped(p, "checkpointed with --kill")
		} else if !r.wait(10 * time.Second) {
			t.Fatalf("generation %d: cr_restart did not end with its job\n%s", gen-1, r.describe())
		}
		for _, d := range tree { // the orphaned client too, reparented to us
			reap(d, 10*time.Second)
			waitGone(d, 10*time.Second)
		}
		got = tcpReceived(t, out)
		last = hh.lastSeq(out, seq)
		began := time.Now()
		r = hh.restartAs("restart"+strconv.Itoa(gen), nil, img)
		rr := r
		t.Cleanup(func() {
			killRestored(pid, rr.pid)
			for _, d := range descendants(rr.pid) {
				syscall.Kill(d, syscall.SIGKILL)
			}
		})
		// What was sent and not acknowledged goes again once the
		// retransmission timer fires, which may take a second or two.
		for deadline := time.Now().Add(wait30); tcpReceived(t, out) <= got; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) || r.exited() {
				t.Fatalf("generation %d: the stream stopped at %d numbers\n%s", gen, got, r.describe())
			}
		}
		t.Logf("generation %d: the stream went on after %s", gen, time.Since(began).Round(time.Millisecond))
		last = hh.waitSeq(out, seq, hh.lastSeq(out, seq)+10, wait30, r)
		if b, _ := os.ReadFile(out); strings.Contains(string(b), "BAD") {
			t.Fatalf("generation %d: %s", gen, b)
		}
	}
	hh.verifySeq(out, seq, last)
}

// TestTCPPairNobody: uid 65534 cannot put a connection in repair mode,
// so its checkpoint is refused, naming the connection and why, and the
// programs go on.
func TestTCPPairNobody(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	as := hh.nobody()
	out := hh.path("tcppair.out")
	seq := seqSpec{tcpTick, 1}
	p := hh.startProg("tcppair", append(as, prog(t, "tcppair")), out)
	hh.waitSeq(out, seq, 5, wait30, p)
	r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "-f", hh.path("img"), strconv.Itoa(p.pid))...)
	want := regexp.MustCompile(`pid \d+ fd \d+: tcp 127\.0\.0\.1:\d+ connected to 127\.0\.0\.1:\d+ \(socket:\[\d+\]\): saving a TCP connection needs CAP_NET_ADMIN \(TCP_REPAIR\): checkpoint as root`)
	if r.code == 0 || !want.MatchString(r.stderr) {
		t.Fatalf("want a refusal matching %q, got\n%s", want, r)
	}
	hh.waitSeq(out, seq, hh.lastSeq(out, seq)+5, wait30, p)
}

// TestTCPBigQueue: a connection whose ends forced their buffers (root's
// SO_RCVBUFFORCE, SO_SNDBUFFORCE) far above what SO_RCVBUF and SO_SNDBUF
// grant (net.core.rmem_max, wmem_max), as a busy connection's buffers
// also grow by themselves, is checkpointed with both queues holding more
// than those limits and restarted: the server then reads every number
// the client wrote, in order.
func TestTCPBigQueue(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	limit := max(sysctlInt(t, "net/core/rmem_max"), sysctlInt(t, "net/core/wmem_max"))
	out := hh.path("bigqueue.out")
	p := hh.startProg("bigqueue", []string{prog(t, "bigqueue"), strconv.Itoa(4 * limit)}, out)
	wrote := hh.waitNumber(out, regexp.MustCompile(`(?m)^wrote (\d+)$`), 1, p)
	// Both queues together hold more than twice as much as the two
	// plain options allow, so one of them does.
	if wrote*8 <= 4*int64(limit) {
		t.Fatalf("the client wrote only %d bytes before the queues filled, not more than %d: the test proves nothing", wrote*8, 4*limit)
	}
	tree := append([]int{p.pid}, descendants(p.pid)...)
	img := hh.path("img")
	hh.checkpoint("--kill", p.pid, img, wait30)
	hh.waitReaped(p, "checkpointed with --kill")
	for _, d := range tree {
		reap(d, 10*time.Second)
		waitGone(d, 10*time.Second)
	}
	r := hh.restartAs("restart", nil, img)
	t.Cleanup(func() {
		killRestored(p.pid, r.pid)
		for _, d := range descendants(r.pid) {
			syscall.Kill(d, syscall.SIGKILL)
		}
	})
	hh.waitRestored(p.pid, r, wait30)
	// Again until it reads: the server keeps SIGUSR1 blocked, so one
	// that came while it was being restored is not lost, and more do no
	// harm.
	readLine := regexp.MustCompile(`(?m)^read (\d+)$`)
	var read int64
	hh.waitOutput(out, wait30, "a line saying what the server read", func(data []byte) (bool, error) {
		syscall.Kill(p.pid, syscall.SIGUSR1)
		read = lastNumber(data, readLine)
		return readLine.Match(data), nil
	}, r)
	if read != wrote {
		t.Fatalf("the server read %d numbers after the restart, the client wrote %d", read, wrote)
	}
	t.Logf("%d MB passed through the restart in the two queues", wrote*8>>20)
}
