package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"stasis/internal/image"
	"stasis/internal/kernel"
)

// --save-* and the checks a restart makes on another machine (issues 5
// and 6): files that vanished or changed, libraries of another build, a
// CPU without the xsave features the threads used.

const (
	// tick [CHILDOUT]: counts with libstep's step; with CHILDOUT, a
	// forked child counts too, into that file.
	tickSrc = `#include <stdio.h>
#include <time.h>
#include <unistd.h>
long step(long);
int main(int argc, char **argv) {
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	if (argc > 1 && fork() == 0 && !freopen(argv[1], "w", stdout))
		return 1;
	for (long n = 0;;) {
		n = step(n);
		printf("tick %ld\n", n);
		fflush(stdout);
		nanosleep(&ts, 0);
	}
}
`
	stepSrc = "long step(long n) { return n + STEP; }\n"
	// A shared writable file mapping holds the count.
	shmapSrc = `#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int fd = open(argv[1], O_RDWR);
	long *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fd < 0 || p == MAP_FAILED) { perror(argv[1]); return 1; }
	close(fd);
	for (;;) {
		p[0]++;
		printf("tick %ld\n", p[0]);
		fflush(stdout);
		nanosleep(&ts, 0);
	}
}
`
	buildA = "0x" + "aa00000000000000000000000000000000000001"
	buildB = "0x" + "bb00000000000000000000000000000000000002"
)

// gcc compiles a program of the test into dir.
func gcc(t *testing.T, dir, name, src string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("gcc", append([]string{"-O1", "-o", out, c}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", name, err, b)
	}
	return out
}

// libStep builds libstep.so in dir, adding step to the count, with the
// given build-id.
func libStep(t *testing.T, dir string, step int, id string) string {
	t.Helper()
	so := gcc(t, dir, "libstep.so", stepSrc, "-shared", "-fPIC", "-DSTEP="+strconv.Itoa(step), "-Wl,--build-id="+id)
	return so
}

// tickJob builds tick (linked with libstep.so, found by rpath) in a
// directory of its own, starts it, waits for a few ticks and checkpoints
// it with --kill and the extra options into img.
func tickJob(hh *h, opts ...string) (pid int, bdir, out, img string) {
	t := hh.t
	t.Helper()
	bdir = hh.path("build")
	os.MkdirAll(bdir, 0o755)
	libStep(t, bdir, 1, buildA)
	exe := gcc(t, bdir, "tick", tickSrc, "-L"+bdir, "-lstep", "-Wl,-rpath,"+bdir)
	out = hh.path("tick.out")
	p := hh.startProg("tick", []string{exe}, out)
	hh.waitSeq(out, seqSpec{tickLine, 1}, 5, wait30, p)
	img = hh.path("tick.img")
	args := append([]string{bin(t, "cr_checkpoint"), "--kill", "-f", img}, opts...)
	if r := hh.run(wait30, append(args, strconv.Itoa(p.pid))...); r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	hh.waitReaped(p, "--kill")
	return p.pid, bdir, out, img
}

// restartContinues restarts img and requires the count in out to go on
// without a gap.
func restartContinues(hh *h, pid int, out, img string) {
	hh.t.Helper()
	seq := seqSpec{tickLine, 1}
	last := hh.lastSeq(out, seq)
	r := hh.restart("cr_restart", img, pid, nil)
	hh.waitSeq(out, seq, last+10, wait30, r)
	hh.checkRestored(pid, r)
	hh.verifySeq(out, seq, last+10)
	hh.stopRestored(pid, r)
}

// restartRefused requires cr_restart img to fail as BLCR's ENV class
// (its hook run, exit status ENOENT), naming pid and every one of want,
// and to leave nothing running.
func restartRefused(hh *h, pid int, img string, want ...string) {
	t := hh.t
	t.Helper()
	hook := hh.path("env-hook-ran")
	os.Remove(hook)
	r := hh.run(wait30, bin(t, "cr_restart"), "--run-on-fail-env=touch "+hook, img)
	if r.code != int(syscall.ENOENT) {
		t.Fatalf("cr_restart: want a refusal (ENV, exit status %d) naming %q\n%s", syscall.ENOENT, want, r)
	}
	if _, err := os.Stat(hook); err != nil {
		t.Fatalf("the --run-on-fail-env hook did not run: %v\n%s", err, r)
	}
	for _, w := range append(want, "pid "+strconv.Itoa(pid)) {
		if !strings.Contains(r.stderr, w) {
			t.Fatalf("cr_restart's error does not say %q:\n%s", w, r)
		}
	}
	if !waitGone(pid, 5*time.Second) {
		t.Fatalf("pid %d runs after a refused restart", pid)
	}
	t.Logf("refused: %s", strings.TrimSpace(r.stderr))
}

// TestSaveAll: with --save-all the image carries the executable and its
// library; both removed (the library replaced by another build that counts
// by 2), the restart maps the saved copies and the count goes on by 1.
func TestSaveAll(t *testing.T) {
	hh := newH(t)
	pid, bdir, out, img := tickJob(hh, "--save-all")
	info := hh.run(wait30, bin(t, "cr_info"), img)
	for _, w := range []string{"saved file", filepath.Join(bdir, "tick"), filepath.Join(bdir, "libstep.so"),
		"build-id " + buildA[2:], "executable file " + filepath.Join(bdir, "tick")} {
		if info.code != 0 || !strings.Contains(info.stdout, w) {
			t.Fatalf("cr_info does not show %q:\n%s", w, info)
		}
	}
	// A damaged saved-file record is refused, naming it, before anything
	// runs.
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(b[64+16:], 0) // the first record's arg: its file id
	bad := hh.path("bad.img")
	os.WriteFile(bad, b, 0o600)
	if r := hh.run(wait30, bin(t, "cr_restart"), bad); r.code == 0 || !strings.Contains(r.stderr, "image damaged: record 1: saved file with id 0") {
		t.Fatalf("a damaged saved file: %s", r)
	}
	if !waitGone(pid, 5*time.Second) {
		t.Fatalf("pid %d runs after a refused restart", pid)
	}
	os.Remove(filepath.Join(bdir, "tick"))
	libStep(t, bdir, 2, buildB)
	restartContinues(hh, pid, out, img)
	if _, err := os.Stat(filepath.Join(bdir, "tick")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the restart made the executable again: %v", err)
	}
}

// TestRestartFileChecks: without --save-*, a missing executable, a
// library of another build and a library of another size are each
// reported before anything starts, naming the process, the file and why.
func TestRestartFileChecks(t *testing.T) {
	hh := newH(t)
	pid, bdir, out, img := tickJob(hh)
	exe, lib := filepath.Join(bdir, "tick"), filepath.Join(bdir, "libstep.so")
	os.Rename(exe, exe+".away")
	restartRefused(hh, pid, img, exe, "no such file", "--save-exe")
	os.Rename(exe+".away", exe)

	orig, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	libStep(t, bdir, 1, buildB) // the same code, another build-id
	if st, _ := os.Stat(lib); st == nil || st.Size() != int64(len(orig)) {
		t.Fatalf("the second build of the library has another size; this test needs the same")
	}
	restartRefused(hh, pid, img, lib, "build-id "+buildB[2:]+", was "+buildA[2:], "--save-private")

	os.WriteFile(lib, append(orig, 0), 0o755)
	restartRefused(hh, pid, img, lib, "size", "--save-private")

	os.WriteFile(lib, orig, 0o755) // the files as they were: it restarts
	restartContinues(hh, pid, out, img)
}

// TestRelocateMappedFiles: the executable and library moved to another
// directory are checked (size, build-id) and mapped there with
// --relocate.
func TestRelocateMappedFiles(t *testing.T) {
	hh := newH(t)
	pid, bdir, out, img := tickJob(hh)
	moved := hh.path("moved")
	if err := os.Rename(bdir, moved); err != nil {
		t.Fatal(err)
	}
	restartRefused(hh, pid, img, filepath.Join(bdir, "tick"), "no such file")
	seq := seqSpec{tickLine, 1}
	last := hh.lastSeq(out, seq)
	r := hh.start("cr_restart", []string{bin(t, "cr_restart"), "--relocate", bdir + "=" + moved, img}, startOpts{})
	t.Cleanup(func() { killRestored(pid, r.pid) })
	hh.waitSeq(out, seq, last+10, wait30, r)
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); exe != filepath.Join(moved, "tick") {
		t.Fatalf("the restored process runs %q, want the relocated executable", exe)
	}
	maps, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if !strings.Contains(string(maps), filepath.Join(moved, "libstep.so")) {
		t.Fatalf("the relocated library is not mapped:\n%s", maps)
	}
	hh.stopRestored(pid, r)
}

// TestSaveExeOnly: --save-exe carries the executable but not the library,
// so a library of another build is still reported, and a removed
// executable alone is not.
func TestSaveExeOnly(t *testing.T) {
	hh := newH(t)
	pid, bdir, out, img := tickJob(hh, "--save-exe")
	lib := filepath.Join(bdir, "libstep.so")
	os.Remove(filepath.Join(bdir, "tick"))
	orig, _ := os.ReadFile(lib)
	libStep(t, bdir, 1, buildB)
	restartRefused(hh, pid, img, lib, "build-id", "--save-private")
	os.WriteFile(lib, orig, 0o755)
	restartContinues(hh, pid, out, img)
}

// TestSaveShared: a MAP_SHARED writable file mapping saved with
// --save-shared is restored from the image, as BLCR does: the count it
// holds goes on, and the file at the original path, rewritten meanwhile,
// is left untouched by the restart and by the restored process's writes.
func TestSaveShared(t *testing.T) {
	hh := newH(t)
	exe := gcc(t, hh.dir, "shmap", shmapSrc)
	data := hh.path("count.data")
	os.WriteFile(data, make([]byte, 4096), 0o644)
	out := hh.path("shmap.out")
	p := hh.startProg("shmap", []string{exe, data}, out)
	seq := seqSpec{tickLine, 1}
	hh.waitSeq(out, seq, 5, wait30, p)
	// --save-private carries the program and libc, not the shared file;
	// --save-none after it cancels it.
	for _, c := range []struct {
		opts           []string
		exeSaved, libc bool
	}{{[]string{"--save-private"}, true, true}, {[]string{"--save-private", "--save-none", "--save-exe"}, true, false}} {
		priv := hh.path("private.img")
		args := append(append([]string{bin(t, "cr_checkpoint"), "-f", priv}, c.opts...), strconv.Itoa(p.pid))
		if r := hh.run(wait30, args...); r.code != 0 {
			t.Fatalf("checkpoint: %s", r)
		}
		info := hh.run(wait30, bin(t, "cr_info"), priv).stdout
		if !strings.Contains(info, "mapped file "+data+": 4096 bytes, no build-id, expected at its path") ||
			!strings.Contains(info, "executable file "+exe+":") ||
			strings.Contains(info, "saved file 1: "+exe) != c.exeSaved ||
			strings.Contains(info, "libc.so.6, ") != c.libc {
			t.Fatalf("%q: cr_info shows\n%s", c.opts, info)
		}
	}
	img := hh.path("shmap.img")
	if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--save-shared", "--kill", "-f", img, strconv.Itoa(p.pid)); r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	hh.waitReaped(p, "--kill")
	info := hh.run(wait30, bin(t, "cr_info"), img)
	if !strings.Contains(info.stdout, "mapped file "+data) || !strings.Contains(info.stdout, "saved in the image") {
		t.Fatalf("cr_info does not show the saved data file:\n%s", info)
	}
	other := bytes.Repeat([]byte{0xab}, 4096)
	os.WriteFile(data, other, 0o644)
	restartContinues(hh, p.pid, out, img)
	if now, _ := os.ReadFile(data); !bytes.Equal(now, other) {
		t.Fatalf("the file at the original path changed: %x...", now[:16])
	}
}

// TestXstateRefused: an image whose thread claims an xsave component
// this CPU lacks (its xstate_bv altered through the image package, the
// checksums made good) is refused before anything starts, naming the
// feature.
func TestXstateRefused(t *testing.T) {
	hh := newH(t)
	have, err := kernel.XFeatures()
	if err != nil {
		t.Skip(err)
	}
	bit, name := -1, ""
	for _, c := range []struct {
		bit  int
		name string
	}{{19, "APX"}, {3, "MPX"}, {14, "UINTR"}, {17, "AMX"}, {5, "AVX-512"}} {
		if have&(1<<c.bit) == 0 {
			bit, name = c.bit, c.name
			break
		}
	}
	if bit < 0 {
		t.Skipf("this CPU has every xsave feature the test knows (XCR0 %#x)", have)
	}
	p, out := hh.counting(5)
	img := hh.path("counter.img")
	if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(p.pid)); r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	hh.waitReaped(p, "--kill")
	bad := hh.path("bad.img")
	rewrite(t, img, bad, func(pr *image.Process) {
		for i := range pr.Threads {
			xs := pr.Threads[i].Xstate
			if len(xs) < 520 {
				t.Fatalf("thread %d: xsave area of %d bytes", pr.Threads[i].Tid, len(xs))
			}
			// The kernel writes XCR0 at byte 464 of NT_X86_XSTATE: this
			// machine's, as arch_prctl tells it.
			if got := binary.LittleEndian.Uint64(xs[464:]); got != have {
				t.Fatalf("XCR0 in the image %#x, arch_prctl says %#x", got, have)
			}
			binary.LittleEndian.PutUint64(xs[512:], binary.LittleEndian.Uint64(xs[512:])|1<<bit)
		}
	})
	restartRefused(hh, p.pid, bad, "uses "+name, "CPU lacks")
	// A process that had asked to use the feature (arch_prctl) is refused
	// too, whatever its threads hold.
	rewrite(t, img, bad, func(pr *image.Process) { pr.XcompPerm |= 1 << bit })
	restartRefused(hh, p.pid, bad, "asked to use "+name, "CPU lacks")
	restartContinues(hh, p.pid, out, img) // the unaltered image restarts
}

// amxSrc loads AMX tile register tmm0 once and then, every 50 ms, stores
// it and checks what it holds: the tile data (xsave component 18, which
// needs ARCH_REQ_XCOMP_PERM) must survive a checkpoint and restart.
const amxSrc = `#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
struct tilecfg { uint8_t palette, start, r[14]; uint16_t colsb[16]; uint8_t rows[16]; } __attribute__((packed));
int main(void) {
	static struct tilecfg cfg __attribute__((aligned(64)));
	static int32_t in[256] __attribute__((aligned(64))), out[256] __attribute__((aligned(64)));
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */)) {
		perror("arch_prctl");
		return 1;
	}
	cfg.palette = 1; cfg.colsb[0] = 64; cfg.rows[0] = 16;
	for (int i = 0; i < 256; i++) in[i] = i * 7;
	asm volatile("ldtilecfg %0" :: "m"(cfg));
	asm volatile("tileloadd (%0,%1,1), %%tmm0" :: "r"(in), "r"(64L));
	for (long n = 1;; n++) {
		asm volatile("tilestored %%tmm0, (%0,%1,1)" :: "r"(out), "r"(64L) : "memory");
		for (int i = 0; i < 256; i++)
			if (out[i] != i * 7) { printf("tmm0[%d] = %d, want %d\n", i, out[i], i * 7); return 1; }
		printf("tick %ld\n", n);
		fflush(stdout);
		nanosleep(&ts, 0);
	}
}
`

// TestAMXTiles: a process that asked for AMX (ARCH_REQ_XCOMP_PERM) gets
// the permission again on restart (without it, its next tile instruction
// would die of SIGILL), and its tile registers hold what they held.
func TestAMXTiles(t *testing.T) {
	have, err := kernel.XFeatures()
	if err != nil || have&(1<<18) == 0 {
		t.Skipf("no AMX on this machine (XCR0 %#x, %v)", have, err)
	}
	hh := newH(t)
	exe := gcc(t, hh.dir, "amx", amxSrc)
	out := hh.path("amx.out")
	p := hh.startProg("amx", []string{exe}, out)
	hh.waitSeq(out, seqSpec{tickLine, 1}, 5, wait30, p)
	img := hh.path("amx.img")
	if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(p.pid)); r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	hh.waitReaped(p, "--kill")
	restartContinues(hh, p.pid, out, img)
}

// TestSaveTree: a parent and its child, under cr_run, both running the
// executable and mapping the library, checkpointed through the agent with
// --save-all: each file is saved once. Restarted without them, the pair
// counts on; checkpointed again without --save-*, the copies they map
// (unlinked memfds now) are saved anyway, and the second image restarts.
func TestSaveTree(t *testing.T) {
	hh := newH(t)
	bdir := hh.path("build")
	os.MkdirAll(bdir, 0o755)
	libStep(t, bdir, 1, buildA)
	exe := gcc(t, bdir, "tick", tickSrc, "-L"+bdir, "-lstep", "-Wl,-rpath,"+bdir)
	out, childOut := hh.path("tick.out"), hh.path("child.out")
	seq := seqSpec{tickLine, 1}
	run := hh.startProg("cr_run", []string{bin(t, "cr_run"), exe, childOut}, out)
	job := hh.jobOf(run)
	hh.waitSeq(out, seq, 5, wait30, run)
	hh.waitSeq(childOut, seq, 5, wait30, run)
	kids := children(job)
	if len(kids) != 1 {
		t.Fatalf("pid %d has children %v, want one", job, kids)
	}
	img := hh.path("a.img")
	hh.mustCkpt(img, "--save-all", "--kill", strconv.Itoa(job))
	endedBy(t, run, syscall.SIGKILL)
	reapWhenDead(kids[0]) // orphaned to us, the subreaper: its pid must be free for the restart
	info := hh.run(wait30, bin(t, "cr_info"), img)
	for _, f := range []string{exe, filepath.Join(bdir, "libstep.so")} {
		if n := strings.Count(info.stdout, "saved file "); n == 0 || strings.Count(info.stdout, ": "+f+", ") != 1 {
			t.Fatalf("cr_info should show %s saved exactly once:\n%s", f, info)
		}
	}
	os.Remove(exe)
	libStep(t, bdir, 2, buildB)

	for i, img := range []string{img, hh.path("b.img")} {
		r := hh.restart("cr_restart-"+strconv.Itoa(i), img, job, nil)
		last, lastChild := hh.lastSeq(out, seq), hh.lastSeq(childOut, seq)
		hh.waitSeq(out, seq, last+5, wait30, r)
		hh.waitSeq(childOut, seq, lastChild+5, wait30, r)
		hh.checkRestored(job, r)
		if i == 1 {
			hh.stopRestored(job, r)
			break
		}
		hh.mustCkpt(hh.path("b.img"), "--kill", strconv.Itoa(r.pid))
		endedBy(t, r, syscall.SIGKILL)
		reapWhenDead(kids[0])
		info := hh.run(wait30, bin(t, "cr_info"), hh.path("b.img"))
		if !strings.Contains(info.stdout, "saved file 1: "+exe) {
			t.Fatalf("the second image should carry the executable the restart mapped from the first:\n%s", info)
		}
	}
	hh.verifySeq(out, seq, 0)
	hh.verifySeq(childOut, seq, 0)
}

// rewrite copies the image src to dst through the image package, letting
// edit change every process record; the checksums are computed anew.
func rewrite(t *testing.T, src, dst string, edit func(*image.Process)) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	rd, _, err := image.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := image.NewWriter(&buf, image.ArchX86_64)
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch rec.Type {
		case image.RecProcess:
			p, err := rd.Process()
			if err == nil {
				edit(p)
				err = w.Process(p)
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		case image.RecSavedFile:
			m, err := rd.SavedFile()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rd)
			if err == nil {
				err = w.SavedFile(*m, bytes.NewReader(b))
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		case image.RecSame:
			s, err := rd.Same()
			if err == nil {
				err = w.Same(rec.Arg, s)
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(rd)
		if err != nil {
			t.Fatal(err)
		}
		switch rec.Type {
		case image.RecPages:
			err = w.Pages(rec.Arg, b)
		case image.RecFileData:
			err = w.FileData(rec.Arg, bytes.NewReader(b), int64(len(b)))
		default:
			t.Fatalf("record type %d: the test cannot copy it", rec.Type)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
