package e2e

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWidowedPipes: a pipe whose other end no process holds (GNU make 4.3
// keeps one for its jobs' standard input) is checkpointed and restored as
// such: a process holding only the read end of a pipe whose writer left
// "hello" in it and closed, and only the write end of a pipe whose reader
// closed, reads hello then end of file and gets EPIPE after the restart.
// Then a real make -j2 is checkpointed and restarted, and finishes.
func TestWidowedPipes(t *testing.T) {
	needEngine(t)
	py := python(t)
	hh := newH(t)
	src := `import os, signal, sys, time
r, w = os.pipe(); os.write(w, b"hello"); os.close(w)
r2, w2 = os.pipe(); os.close(r2)
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
go = []
signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
n = 0
while not go:
    n += 1
    print("tick %d" % n, flush=True)
    time.sleep(0.05)
data = b""
while True:
    b = os.read(r, 100)
    if not b:
        break
    data += b
try:
    os.write(w2, b"x")
    werr = "none"
except BrokenPipeError:
    werr = "EPIPE"
print("read %r then EOF, write %s" % (data.decode(), werr), flush=True)
`
	out := hh.path("out")
	p := hh.startProg("widow", []string{py, "-c", src}, out)
	seq := seqSpec{tickLine, 1}
	hh.waitSeq(out, seq, 2, wait30, p)
	img := hh.path("widow.img")
	hh.checkpoint("--kill", p.pid, img, wait30)
	hh.waitReaped(p, "checkpointed with --kill")
	r := hh.restart("restart", img, p.pid, nil)
	last := hh.lastSeq(out, seq)
	waitFor(t, out, "tick "+strconv.FormatInt(last+2, 10), r)
	syscall.Kill(p.pid, syscall.SIGUSR1)
	waitFor(t, out, "read 'hello' then EOF, write EPIPE", r)
	if !r.wait(wait30) || !r.state.Success() {
		t.Fatalf("the restored program did not end well\n%s", r.describe())
	}

	// make -j2 running two recipes that count.
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Fatal(err)
	}
	counter := prog(t, "counter")
	mf := hh.path("Makefile")
	os.WriteFile(mf, []byte("all: a b\na b:\n\t"+counter+" 30 > "+hh.path("")+"/$@.out\n"), 0o644)
	m := hh.start("make", []string{mk, "-j2", "-f", mf}, startOpts{})
	for _, f := range []string{"a.out", "b.out"} {
		waitFor(t, hh.path(f), "tick 2\n", m)
	}
	mimg := hh.path("make.img")
	hh.checkpoint("--kill", m.pid, mimg, wait30)
	hh.waitReaped(m, "checkpointed with --kill")
	waitGroupGone(m.pid, 10*time.Second)
	mr := hh.restart("make-restart", mimg, m.pid, nil)
	if !mr.wait(60*time.Second) || !mr.state.Success() {
		t.Fatalf("the restored make -j2 did not finish well\n%s", mr.describe())
	}
	for _, f := range []string{"a.out", "b.out"} {
		if ns := hh.verifySeq(hh.path(f), seq, 30); ns[len(ns)-1] != 30 {
			t.Fatalf("%s ends at tick %d, want 30", f, ns[len(ns)-1])
		}
	}
}

// waitFor waits until file holds want, failing if p ends first.
func waitFor(t *testing.T, file, want string, p *proc) {
	t.Helper()
	for deadline := time.Now().Add(wait30); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(file); strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) || p.exited() {
			b, _ := os.ReadFile(file)
			t.Fatalf("%s never held %q\n%s\nit holds:\n%s", file, want, p.describe(), tail(b, 5))
		}
	}
}

// TestCutPipes: a process holding the read end of a pipe whose writer is
// outside the checkpoint (here the test itself, as a CI runner's would
// be) is refused, the refusal naming --cut-pipes; with --cut-pipes it is
// saved, and after a restart it reads what was waiting, then end of file.
func TestCutPipes(t *testing.T) {
	needEngine(t)
	py := python(t)
	hh := newH(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write([]byte("queued"))
	src := `import os, signal, time
go = []
signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
n = 0
while not go:
    n += 1
    print("tick %d" % n, flush=True)
    time.sleep(0.05)
data = b""
while True:
    b = os.read(3, 100)
    if not b:
        break
    data += b
print("read %r then EOF" % data.decode(), flush=True)
`
	out := hh.path("out")
	outF, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", src)
	cmd.Stdout, cmd.ExtraFiles = outF, []*os.File{r}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outF.Close()
	r.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	pid := cmd.Process.Pid
	seq := seqSpec{tickLine, 1}
	for deadline := time.Now().Add(wait30); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(out); strings.Contains(string(b), "tick 2\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the program never counted")
		}
	}
	img := hh.path("cut.img")
	res := hh.run(wait30, bin(t, "cr_checkpoint"), "-f", img, strconv.Itoa(pid))
	if res.code == 0 || !strings.Contains(res.stderr, "fd 3: pipe whose other end is outside the checkpoint") || !strings.Contains(res.stderr, "--cut-pipes") {
		t.Fatalf("want a refusal of fd 3 naming --cut-pipes, got\n%s", res)
	}
	res = hh.run(wait30, bin(t, "cr_checkpoint"), "--cut-pipes", "--kill", "-f", img, strconv.Itoa(pid))
	if res.code != 0 {
		t.Fatalf("cr_checkpoint --cut-pipes:\n%s", res)
	}
	<-done
	last := hh.lastSeq(out, seq)
	rs := hh.restart("restart", img, pid, nil)
	waitFor(t, out, "tick "+strconv.FormatInt(last+2, 10), rs)
	syscall.Kill(pid, syscall.SIGUSR1)
	waitFor(t, out, "read 'queued' then EOF", rs)
	if !rs.wait(wait30) || !rs.state.Success() {
		t.Fatalf("the restored program did not end well\n%s", rs.describe())
	}
}
