package e2e

// Tests of lazy restart: cr_restart maps page data from the image file
// instead of copying it. The program is test/progs/heap with 256 MiB: every
// step it hashes its whole heap against a table and prints "ok" only if
// every block matches, so a page that came back wrong, or went missing
// when its image was removed or replaced, ends the clean sequence.

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const lazyWait = 60 * time.Second

var heapSeq = seqSpec{stepLine, 1}

// heapImage runs heap 256 until it has taken a few steps and checkpoints it
// with --kill (and args) into img; it returns the pid, the output file and
// the last step.
func (hh *h) heapImage(img string, args ...string) (int, string, int64) {
	hh.t.Helper()
	out := hh.path("out.txt")
	p := hh.startProg("heap", []string{prog(hh.t, "heap"), "256"}, out)
	hh.waitSeq(out, heapSeq, 3, lazyWait, p)
	hh.mustCkpt(img, append(append([]string{"--kill"}, args...), strconv.Itoa(p.pid))...)
	hh.waitReaped(p, "after cr_checkpoint --kill")
	return p.pid, out, hh.lastSeq(out, heapSeq)
}

// imageMappings counts pid's mappings of the file at path (shown with
// " (deleted)" once it is removed or replaced).
func imageMappings(t *testing.T, pid int, path string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSuffix(sc.Text(), " (deleted)")
		if strings.HasSuffix(line, " "+path) {
			n++
		}
	}
	return n
}

// restartArgs starts cr_restart with args and waits until it has restored
// pid; t.Cleanup kills what is left.
func (hh *h) restartArgs(name string, pid int, stdin *os.File, args ...string) *proc {
	hh.t.Helper()
	r := hh.start(name, append([]string{bin(hh.t, "cr_restart")}, args...), startOpts{stdin: stdin})
	hh.t.Cleanup(func() { killRestored(pid, r.pid) })
	hh.waitRestored(pid, r, lazyWait)
	// Its parent is cr_restart from the start: it is restored once
	// cr_restart has let it go.
	for deadline := time.Now().Add(lazyWait); statusField(pid, "TracerPid") != "0"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) || r.exited() {
			hh.t.Fatalf("pid %d still traced after %v\n%s", pid, lazyWait, r.describe())
		}
	}
	return r
}

// TestLazyRestart: the image is mapped, not copied; the program computes
// right from it; checkpointed again (once while the first image is there,
// once after it was removed) it saves every page, and restarts from the
// last image with the first gone.
func TestLazyRestart(t *testing.T) {
	hh := newH(t)
	img1 := hh.path("1.img")
	pid, out, last := hh.heapImage(img1)

	r := hh.restartArgs("restart1", pid, nil, img1)
	if n := imageMappings(t, pid, img1); n < 16 {
		t.Fatalf("pid %d maps %s %d times, want its 256 MiB of pages mapped from it (16 or more records)", pid, img1, n)
	}
	last = hh.waitSeq(out, heapSeq, last+3, lazyWait, r)

	img2 := hh.path("2.img")
	hh.checkpoint("--run", pid, img2, lazyWait)
	if err := os.Remove(img1); err != nil {
		t.Fatal(err)
	}
	last = hh.waitSeq(out, heapSeq, last+2, lazyWait, r)
	img3 := hh.path("3.img")
	hh.checkpoint("--kill", pid, img3, lazyWait) // through /proc/PID/map_files: 1.img is removed
	endedBy(t, r, syscall.SIGKILL)
	for _, img := range []string{img2, img3} {
		if fi, err := os.Stat(img); err != nil || fi.Size() < 256<<20 {
			t.Fatalf("%s should hold all 256 MiB of the heap: %v %v", img, fi.Size(), err)
		}
	}
	last = hh.lastSeq(out, heapSeq)

	r = hh.restartArgs("restart3", pid, nil, img3)
	hh.waitSeq(out, heapSeq, last+3, lazyWait, r)
	hh.stopRestored(pid, r)
	hh.verifySeq(out, heapSeq, last+3)
}

// TestLazyRestartEager: --no-lazy, -F (a stream) and a compressed image copy
// every page: the process maps nothing of the image and computes right.
func TestLazyRestartEager(t *testing.T) {
	for _, c := range []struct {
		name   string
		ckpt   []string
		args   func(img string) []string
		stdin  bool
		mapped bool
	}{
		{"no-lazy", nil, func(img string) []string { return []string{"--no-lazy", img} }, false, false},
		{"stdin", nil, func(string) []string { return []string{"-F", "0"} }, true, false},
		{"zstd", []string{"--compress", "zstd"}, func(img string) []string { return []string{img} }, false, false},
		{"file", nil, func(img string) []string { return []string{"-f", img} }, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			hh := newH(t)
			img := hh.path("1.img")
			pid, out, last := hh.heapImage(img, c.ckpt...)
			var stdin *os.File
			if c.stdin {
				f, err := os.Open(img)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				stdin = f
			}
			r := hh.restartArgs("restart", pid, stdin, c.args(img)...)
			if n := imageMappings(t, pid, img); (n > 0) != c.mapped {
				t.Fatalf("pid %d maps %s %d times, want mapped: %v", pid, img, n, c.mapped)
			}
			hh.waitSeq(out, heapSeq, last+3, lazyWait, r)
			hh.stopRestored(pid, r)
			hh.verifySeq(out, heapSeq, last+3)
		})
	}
}

// TestLazyImageReplaced: the image a lazily restarted process maps is
// replaced, with cr_checkpoint --clobber and by the agent's own checkpoint
// to IMAGE, while it runs: it computes right throughout, and the new image
// restarts.
func TestLazyImageReplaced(t *testing.T) {
	hh := newH(t)
	img := hh.path("1.img")
	pid, out, last := hh.heapImage(img)
	ino := func() uint64 {
		var st syscall.Stat_t
		if err := syscall.Stat(img, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	r := hh.restartArgs("restart", pid, nil, "--checkpoint-signal", "USR1", img)
	if n := imageMappings(t, pid, img); n == 0 {
		maps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
		t.Fatalf("pid %d does not map %s:\n%s\n%s", pid, img, maps, r.describe())
	}
	last = hh.waitSeq(out, heapSeq, last+2, lazyWait, r)

	before := ino()
	hh.mustCkpt(img, "--run", "--clobber", strconv.Itoa(pid))
	if ino() == before {
		t.Fatalf("--clobber wrote %s in place", img)
	}
	last = hh.waitSeq(out, heapSeq, last+3, lazyWait, r)

	before = ino()
	if err := syscall.Kill(r.pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(lazyWait); ino() == before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) || r.exited() {
			t.Fatalf("the agent did not replace %s after SIGUSR1\n%s", img, r.describe())
		}
	}
	last = hh.waitSeq(out, heapSeq, last+3, lazyWait, r)
	hh.stopRestored(pid, r)
	last = hh.lastSeq(out, heapSeq)

	r = hh.restartArgs("restart2", pid, nil, img)
	hh.waitSeq(out, heapSeq, last+3, lazyWait, r)
	hh.stopRestored(pid, r)
	hh.verifySeq(out, heapSeq, last+3)
}

// TestLazyDamagedPages: a flipped byte in a large pages record is caught
// by cr_restart --no-lazy, which reads the pages in place and checks them
// beside the copy: it fails naming the checksum, and leaves nothing
// running.
func TestLazyDamagedPages(t *testing.T) {
	hh := newH(t)
	img := hh.path("1.img")
	pid, _, _ := hh.heapImage(img)
	info := hh.run(wait30, bin(t, "cr_info"), img)
	if info.code != 0 {
		t.Fatalf("cr_info: %s", info)
	}
	var off int64 = -1
	for _, line := range strings.Split(info.stdout, "\n") {
		// "  pages 0x...-0x... (8192 KiB) at offset N"
		f := strings.Fields(line)
		if len(f) == 7 && f[0] == "pages" && f[2] == "(8192" {
			if off, _ = strconv.ParseInt(f[6], 10, 64); off > 0 {
				break
			}
		}
	}
	if off <= 0 {
		t.Fatalf("no 8 MiB pages record in cr_info's output:\n%s", info.stdout)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off+4242); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off+4242); err != nil {
		t.Fatal(err)
	}
	f.Close()

	r := hh.run(lazyWait, bin(t, "cr_restart"), "--no-lazy", img)
	if r.code == 0 || !strings.Contains(r.stderr, "checksum mismatch") {
		t.Fatalf("cr_restart --no-lazy of a damaged image should fail naming the checksum: %s", r)
	}
	t.Logf("cr_restart --no-lazy: %s", strings.TrimSpace(r.stderr))
	if !waitGone(pid, 5*time.Second) {
		t.Fatalf("pid %d is left after the failed restart", pid)
	}
}

// TestLazyUnprivileged: an ordinary user's lazily restarted job is
// checkpointed twice through its agent into the image it maps; after the
// first, the mapping shows the image as deleted, which only the agent's
// knowledge of what it restarted from can tell (map_files needs root).
// The last image restarts with a heap that checks out.
func TestLazyUnprivileged(t *testing.T) {
	hh := newH(t)
	as := hh.nobody()
	out := hh.path("out.txt")
	p := hh.startNobody("heap", []string{prog(t, "heap"), "256"}, out)
	hh.waitSeq(out, heapSeq, 3, lazyWait, p)
	img := hh.path("u.img")
	hh.killCkpt(as, p, img)
	last := hh.lastSeq(out, heapSeq)

	r := hh.restartAs("cr_restart", as, img)
	t.Cleanup(func() { r.kill() })
	last = hh.waitSeq(out, heapSeq, last+2, lazyWait, r)
	for i := 0; i < 2; i++ {
		if c := hh.run(lazyWait, append(as, bin(t, "cr_checkpoint"), "-f", img, strconv.Itoa(r.pid))...); c.code != 0 {
			t.Fatalf("checkpoint %d of the lazily restarted job by its user:\n%s", i+1, c)
		}
		last = hh.waitSeq(out, heapSeq, last+2, lazyWait, r)
	}
	r.kill()
	r.wait(10 * time.Second)
	last = hh.lastSeq(out, heapSeq)
	r2 := hh.restartAs("cr_restart2", as, "--no-lazy", img)
	t.Cleanup(func() { r2.kill() })
	hh.waitSeq(out, heapSeq, last+3, lazyWait, r2)
	hh.verifySeq(out, heapSeq, last+3)
}
