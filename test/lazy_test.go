package e2e

// Tests of lazy restart: cr_restart maps page data from the image file
// instead of copying it. The program is test/progs/heap with 256 MiB: every
// step it hashes its whole heap against a table and prints "ok" only if
// every block matches, so a page that came back wrong, or went missing
// when its image was removed or replaced, ends the clean sequence.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
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

// imageRecord is where one record of an image lies: its 32-byte header at
// hdr, its payload of n bytes at payload.
type imageRecord struct {
	typ          uint32
	hdr, payload int64
	n            int64
}

// imageRecords walks the records of the image file at path (docs/FORMAT.md:
// a 64-byte header, then records of a 32-byte header, pad zero bytes and
// the payload).
func imageRecords(t *testing.T, path string) []imageRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	var recs []imageRecord
	for off := int64(64); off+32 <= int64(len(data)); {
		h := data[off:]
		r := imageRecord{typ: le.Uint32(h), hdr: off, n: int64(le.Uint64(h[8:]))}
		r.payload = off + 32 + int64(le.Uint32(h[4:]))
		recs = append(recs, r)
		off = r.payload + r.n
	}
	if len(recs) == 0 || recs[len(recs)-1].typ != 0x454E44 {
		t.Fatalf("%s: no end record after %d records", path, len(recs))
	}
	return recs
}

// flipSite is one byte of an image to damage, and what it damages.
type flipSite struct {
	off  int64
	what string
	page bool // in the payload of a pages record that is mapped lazily
}

// flipSites picks pages random bytes in the payloads of the image's pages
// records of 64 KiB or more (the ones a lazy restart maps), and meta
// random bytes in its header, its record headers and its process records.
func flipSites(t *testing.T, rng *rand.Rand, recs []imageRecord, pages, meta int) []flipSite {
	t.Helper()
	var big, procs []imageRecord
	for _, r := range recs {
		switch {
		case r.typ == 2 && r.n >= 64<<10:
			big = append(big, r)
		case r.typ == 1:
			procs = append(procs, r)
		}
	}
	if len(big) == 0 || len(procs) == 0 {
		t.Fatalf("the image has %d pages records of 64 KiB or more and %d process records", len(big), len(procs))
	}
	var sites []flipSite
	for i := 0; i < pages; i++ {
		r := big[rng.Intn(len(big))]
		off := r.payload + rng.Int63n(r.n)
		sites = append(sites, flipSite{off, fmt.Sprintf("page data at offset %d (record at %d)", off, r.hdr), true})
	}
	for i := 0; i < meta; i++ {
		switch i % 4 {
		case 0:
			off := rng.Int63n(64)
			sites = append(sites, flipSite{off, fmt.Sprintf("image header byte %d", off), false})
		case 1, 2: // the header of a mapped record: its address, length, sum
			r := big[rng.Intn(len(big))]
			b := rng.Int63n(32)
			sites = append(sites, flipSite{r.hdr + b, fmt.Sprintf("byte %d of the header of the mapped record at %d", b, r.hdr), false})
		case 3:
			r := procs[rng.Intn(len(procs))]
			off := r.payload + rng.Int63n(r.n)
			sites = append(sites, flipSite{off, fmt.Sprintf("process record at offset %d", off), false})
		}
	}
	return sites
}

// flippedCopy writes a copy of the image src to dst with the byte at off
// flipped (all its bits), owned by uid.
func flippedCopy(t *testing.T, src []byte, dst string, off int64, uid int) {
	t.Helper()
	b := bytes.Clone(src)
	b[off] ^= 0xff
	if err := os.WriteFile(dst, b, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dst, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// flipTrial restarts the damaged image img (cr_restart's argv prefixed by
// as) and reports how it went: "" if cr_restart refused it as it should,
// otherwise what went wrong. The heap program writes to out: if that grows,
// the program ran on the damaged image.
func (hh *h) flipTrial(name string, as []string, img, out string, site flipSite, pid int) string {
	hh.t.Helper()
	size := func() int64 {
		fi, err := os.Stat(out)
		if err != nil {
			hh.t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	r := hh.restartAs(name, as, img)
	ran := false
	for deadline := time.Now().Add(15 * time.Second); !r.exited() && !ran; time.Sleep(5 * time.Millisecond) {
		ran = size() > before
		if time.Now().After(deadline) {
			r.kill()
			return "cr_restart neither refused the image nor ran it within 15 s\n" + r.describe()
		}
	}
	if !ran && !r.wait(10*time.Second) {
		return "cr_restart did not exit\n" + r.describe()
	}
	r.kill()
	r.wait(10 * time.Second)
	stderr, _ := os.ReadFile(r.stderr)
	msg := strings.TrimSpace(string(stderr))
	switch {
	case ran || size() > before:
		return "the program ran on the damaged image: " + r.describe()
	case r.state.ExitCode() == 0:
		return "cr_restart exited 0: " + r.describe()
	case site.page && !(strings.Contains(msg, "checksum mismatch") && strings.Contains(msg, fmt.Sprintf("pid %d", pid))):
		return "cr_restart failed without naming the checksum and pid " + strconv.Itoa(pid) + ": " + msg
	case msg == "":
		return "cr_restart failed without a message"
	}
	return ""
}

// TestLazyFlips: a lazy restart (the default) of an image with one byte
// flipped (each time a fresh copy, 40 times in its page data and 12 in its
// headers and process records) refuses it, naming the damaged record and
// its pid; the self-checking heap program never runs. As root and as an
// ordinary user (fewer flips). The time a default restart and an
// --unverified one take on the undamaged image is logged.
func TestLazyFlips(t *testing.T) {
	for _, c := range []struct {
		name        string
		nobody      bool
		pages, meta int
	}{
		{"root", false, 40, 12},
		{"nobody", true, 12, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			hh := newH(t)
			var as []string
			uid := 0
			out := hh.path("out.txt")
			var p *proc
			if c.nobody {
				as, uid = hh.nobody(), 65534
				p = hh.startNobody("heap", []string{prog(t, "heap"), "21"}, out)
			} else {
				p = hh.startProg("heap", []string{prog(t, "heap"), "21"}, out)
			}
			hh.waitSeq(out, heapSeq, 3, lazyWait, p)
			img := hh.path("h.img")
			hh.killCkpt(as, p, img)
			data, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			seed := time.Now().UnixNano()
			t.Logf("seed %d, image of %d bytes", seed, len(data))
			sites := flipSites(t, rand.New(rand.NewSource(seed)), imageRecords(t, img), c.pages, c.meta)
			bad := 0
			start := time.Now()
			for i, s := range sites {
				dmg := hh.path(fmt.Sprintf("d%d.img", i))
				flippedCopy(t, data, dmg, s.off, uid)
				if why := hh.flipTrial(fmt.Sprintf("restart%d", i), as, dmg, out, s, p.pid); why != "" {
					t.Errorf("%s flipped: %s", s.what, why)
					bad++
				}
				os.Remove(dmg)
			}
			t.Logf("%d of %d flips refused, in %v", len(sites)-bad, len(sites), time.Since(start).Round(time.Millisecond))
			if bad > 0 {
				return
			}
			// The undamaged image restarts and computes right.
			last := hh.lastSeq(out, heapSeq)
			r := hh.restartAs("restart", as, img)
			t.Cleanup(func() { r.kill() })
			hh.waitSeq(out, heapSeq, last+3, lazyWait, r)
			r.kill()
			r.wait(10 * time.Second)
			hh.verifySeq(out, heapSeq, last+3)
		})
	}
}
