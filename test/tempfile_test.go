package e2e

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRemadeTempFile: a process holds open a small file that is removed
// after a --run checkpoint (gcc's /tmp/cc*.s), through two fds, and then
// /dev/null: the restart makes it again from the image once, says so, and
// the process reads back what it wrote through both (while /dev/null,
// opened before the file was made again, landed on the file's number
// and was moved to its own). A
// file that exists at restart is left as it is (and, as it changed and is
// open for reading and writing, refused unless --changed-files=warn); with
// --keep-files-below=0
// the file is not kept and the restart fails naming it.
func TestRemadeTempFile(t *testing.T) {
	needEngine(t)
	py := python(t)
	src := `import os, signal, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)
os.write(fd, b"draft 1\n")
fd2 = os.open(sys.argv[1], os.O_RDONLY)
null = os.open("/dev/null", os.O_WRONLY)
go = []
signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
n = 0
while not go:
    n += 1
    print("tick %d" % n, flush=True)
    time.sleep(0.05)
os.lseek(fd, 0, 0)
print("holds %r %r" % (os.read(fd, 100).decode(), os.pread(fd2, 100, 0).decode()), flush=True)
print("null %s" % (os.fstat(null).st_rdev == os.stat("/dev/null").st_rdev and os.write(null, b"x") == 1), flush=True)
`
	for _, c := range []string{"removed", "replaced", "not kept"} {
		t.Run(c, func(t *testing.T) {
			hh := newH(t)
			tmp := hh.path("cc1.s")
			out := hh.path("out")
			p := hh.startProg("tmpuser", []string{py, "-c", src, tmp}, out)
			waitFor(t, out, "tick 2\n", p)
			img := hh.path("img")
			args := []string{bin(t, "cr_checkpoint"), "-f", img, strconv.Itoa(p.pid)}
			if c == "not kept" {
				args = append(args[:1], append([]string{"--keep-files-below=0"}, args[1:]...)...)
			}
			if r := hh.run(wait30, args...); r.code != 0 {
				t.Fatalf("checkpoint:\n%s", r)
			}
			p.kill()
			hh.waitReaped(p, "killed")
			os.Remove(tmp)
			if c == "replaced" {
				os.WriteFile(tmp, []byte("someone else's\n"), 0o644)
			}
			seq := seqSpec{tickLine, 1}
			last := hh.lastSeq(out, seq)
			r := hh.restart("restart", img, p.pid, nil)
			if c == "replaced" { // changed since the checkpoint, and open for reading and writing
				if !r.wait(wait30) || r.state.Success() {
					t.Fatalf("restart with a file open for reading and writing replaced: want a refusal\n%s", r.describe())
				}
				r = hh.start("restart-anyway", []string{bin(t, "cr_restart"), "--changed-files=warn", img}, startOpts{})
				t.Cleanup(func() { killRestored(p.pid, r.pid) })
			}
			if c == "not kept" {
				if !r.wait(wait30) || r.state.Success() {
					t.Fatalf("restart without the file kept: want a failure\n%s", r.describe())
				}
				if b, _ := os.ReadFile(r.stderr); !strings.Contains(string(b), tmp) || strings.Contains(string(b), "--relocate") {
					t.Fatalf("the failure does not name %s, or suggests --relocate for a file removed from a directory still there:\n%s", tmp, b)
				}
				return
			}
			hh.waitSeq(out, seq, last+2, wait30, r)
			syscall.Kill(p.pid, syscall.SIGUSR1)
			want := "holds 'draft 1\\n' 'draft 1\\n'"
			if c == "replaced" {
				want = "holds \"someone else's\\n\" \"someone else's\\n\""
			}
			waitFor(t, out, want, r)
			waitFor(t, out, "null True", r)
			if !r.wait(wait30) || !r.state.Success() {
				t.Fatalf("the restored process did not end well\n%s", r.describe())
			}
			notice, _ := os.ReadFile(r.stderr)
			made := strings.Contains(string(notice), tmp+" was gone; made again from the image (8 bytes)")
			if n := strings.Count(string(notice), " was gone;"); n > 1 {
				t.Fatalf("%s: %d notices of a remade file, want one; stderr:\n%s", c, n, notice)
			}
			if made != (c == "removed") {
				t.Fatalf("%s: notice of a remade file: %v, want %v; stderr:\n%s", c, made, c == "removed", notice)
			}
			if b, _ := os.ReadFile(tmp); c == "removed" && string(b) != "draft 1\n" {
				t.Fatalf("the remade file holds %q", b)
			}
		})
	}
}
