package e2e

// Tests of where images go and how they replace each other (BLCR's
// --backup, --clobber, --noclobber, -F, -t), and of checkpoints that fail
// midway: nothing half-written may be visible, the previous image must
// still restart, and the processes must run on.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriterPolicies(t *testing.T) {
	hh := newH(t)
	p, _ := hh.counting(3)
	pid := strconv.Itoa(p.pid)
	img := hh.path("img")
	for i := 0; i < 3; i++ {
		hh.mustCkpt(img, "--backup", pid)
	}
	for _, name := range []string{"img", "img.~1~", "img.~2~"} {
		if st, err := os.Stat(hh.path(name)); err != nil || st.Mode().Perm() != 0o400 {
			t.Fatalf("--backup three times: %s: %v %v", name, st, err)
		}
	}
	before, _ := os.ReadFile(img)
	hh.mustCkpt(img, "--backup=prev", pid)
	if prev, _ := os.ReadFile(hh.path("prev")); string(prev) != string(before) {
		t.Fatal("--backup=prev did not keep the previous image as prev")
	}
	st0, _ := os.Stat(img)
	r := hh.ckpt("--noclobber", "-f", img, pid)
	if r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("--noclobber over an image: %s", r)
	}
	if st, _ := os.Stat(img); !os.SameFile(st, st0) {
		t.Fatal("--noclobber replaced the image")
	}
	old, _ := os.ReadFile(img)
	time.Sleep(200 * time.Millisecond) // the counter moves on
	hh.mustCkpt(img, "--clobber", pid)
	if now, _ := os.ReadFile(img); string(now) == string(old) {
		t.Fatal("--clobber did not write a new image")
	}
	// The last of the policy options wins.
	r = hh.ckpt("--noclobber", "--atomic", "-f", img, pid)
	if r.code != 0 {
		t.Fatalf("--noclobber --atomic: %s", r)
	}
	if es, _ := os.ReadDir(hh.dir); len(es) != 6 { // counter.out, counter.stderr, img, .~1~, .~2~, prev
		var n []string
		for _, e := range es {
			n = append(n, e.Name())
		}
		t.Fatalf("the directory holds %v", n)
	}
	// An older image restarts.
	syscall.Kill(p.pid, syscall.SIGKILL)
	hh.waitReaped(p, "after SIGKILL")
	rs := hh.restart("cr_restart", hh.path("img.~1~"), p.pid, nil)
	hh.jobOf(rs)
	hh.checkRestored(p.pid, rs)
	hh.stopRestored(p.pid, rs)
}

// TestWriterStream: -F writes the image to a descriptor (a pipe here), and
// cr_restart -F reads it from one, directly and through an agent.
func TestWriterStream(t *testing.T) {
	counter := prog(t, "counter")
	for _, viaAgent := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "agent"}[viaAgent], func(t *testing.T) {
			hh := newH(t)
			seq := seqSpec{tickLine, 1}
			out := hh.path("out.txt")
			argv := []string{counter}
			if viaAgent {
				argv = append([]string{bin(t, "cr_run")}, argv...)
			}
			p := hh.startProg("job", argv, out)
			job := p.pid
			if viaAgent {
				job = hh.jobOf(p)
			}
			hh.waitSeq(out, seq, 3, wait30, p)
			img := hh.path("img")
			r := hh.run(wait30, "sh", "-c", bin(t, "cr_checkpoint")+" --kill -F 1 "+strconv.Itoa(job)+" | cat > "+img)
			if r.code != 0 {
				t.Fatalf("-F 1 into a pipe: %s", r)
			}
			if !p.wait(10 * time.Second) {
				t.Fatalf("the job still runs after --kill\n%s", p.describe())
			}
			reapZombies()
			last := hh.lastSeq(out, seq)
			in, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			rs := hh.start("cr_restart", []string{"sh", "-c", "cat | exec " + bin(t, "cr_restart") + " -F 0"}, startOpts{stdin: in})
			t.Cleanup(func() { killRestored(job, rs.pid) })
			hh.waitSeq(out, seq, last+5, wait30, rs)
			syscall.Kill(-rs.pid, syscall.SIGKILL)
		})
	}
}

// TestWriterFailures: a disk that fills, a checkpoint over its time limit,
// a cr_checkpoint killed midway and a target killed midway each leave no
// image (and no temporary file), the previous image intact, and the
// processes as they were.
func TestWriterFailures(t *testing.T) {
	counter, heap := prog(t, "counter"), prog(t, "heap")
	seq := seqSpec{tickLine, 1}
	steps := seqSpec{stepLine, 1}

	t.Run("disk-full", func(t *testing.T) {
		hh := newH(t)
		tfs := hh.smallTmpfs()
		out := hh.path("out.txt")
		p := hh.startProg("counter", []string{counter}, out)
		hh.waitSeq(out, seq, 3, wait30, p)
		img := filepath.Join(tfs, "img")
		hh.mustCkpt(img, strconv.Itoa(p.pid))
		good, _ := os.ReadFile(img)
		r := hh.ckpt("--kill", "-f", img, strconv.Itoa(p.pid))
		if r.code == 0 || !strings.Contains(r.stderr, "no space left on device") {
			t.Fatalf("a checkpoint onto a full disk: %s", r)
		}
		if now, _ := os.ReadFile(img); string(now) != string(good) {
			t.Fatal("the failed checkpoint changed the previous image")
		}
		if es, _ := os.ReadDir(tfs); len(es) != 1 {
			t.Fatalf("the full disk holds %d files, want the one image", len(es))
		}
		last := hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, p) // --kill was not carried out
		syscall.Kill(p.pid, syscall.SIGKILL)
		hh.waitReaped(p, "after SIGKILL")
		rs := hh.restart("cr_restart", img, p.pid, nil)
		hh.jobOf(rs)
		hh.checkRestored(p.pid, rs)
		hh.stopRestored(p.pid, rs)
		_ = last
	})

	t.Run("time-limit", func(t *testing.T) {
		bash, err := exec.LookPath("bash")
		if err != nil {
			t.Skipf("bash is not installed: %v", err)
		}
		hh := newH(t)
		out := hh.path("out.txt")
		p := hh.startProg("counter", []string{counter}, out)
		hh.waitSeq(out, seq, 3, wait30, p)
		// A reader that takes 3 s to start: the writer blocks past -t 1.
		script := bin(t, "cr_checkpoint") + " --kill -t 1 -F 1 " + strconv.Itoa(p.pid) +
			" | (sleep 3; cat > /dev/null); exit ${PIPESTATUS[0]}"
		r := hh.run(wait30, bash, "-c", script)
		if r.code != 110 || !strings.Contains(r.stderr, "took longer than allowed") {
			t.Fatalf("-t 1 on a checkpoint that takes 3 s: want status 110 (ETIMEDOUT): %s", r)
		}
		hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, p) // runs on, --kill not carried out
	})

	for _, victim := range []string{"cr_checkpoint", "target"} {
		t.Run(victim+"-killed", func(t *testing.T) {
			hh := newH(t)
			out := hh.path("out.txt")
			p := hh.startProg("heap", []string{heap, "300"}, out)
			hh.waitSeq(out, steps, 2, 60*time.Second, p)
			img := hh.path("img")
			os.WriteFile(img, []byte("previous image"), 0o400)
			args := []string{bin(t, "cr_checkpoint"), "-f", img, strconv.Itoa(p.pid)}
			if victim == "target" {
				// With --run the target is let go once its snapshot is
				// taken, and its death no longer matters to the image:
				// --kill keeps it frozen until the image is written.
				args = append(args[:1], append([]string{"--kill"}, args[1:]...)...)
			}
			c := hh.start("cr_checkpoint", args, startOpts{})
			deadline := time.Now().Add(10 * time.Second)
			for statusField(p.pid, "TracerPid") == "0" && time.Now().Before(deadline) && !c.exited() {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // into the pages
			if victim == "target" {
				syscall.Kill(p.pid, syscall.SIGKILL)
			} else {
				syscall.Kill(c.pid, syscall.SIGKILL)
			}
			if !c.wait(30 * time.Second) {
				t.Fatalf("cr_checkpoint did not end\n%s", c.describe())
			}
			if victim == "target" && c.state.ExitCode() == 0 {
				t.Fatalf("cr_checkpoint succeeded though its target was killed midway\n%s", c.describe())
			}
			if b, _ := os.ReadFile(img); string(b) != "previous image" {
				t.Fatalf("the previous image was replaced by %d bytes", len(b))
			}
			if es, _ := os.ReadDir(hh.dir); len(es) != 5 { // out.txt, heap.stderr, img, cr_checkpoint.stdout/.stderr
				var n []string
				for _, e := range es {
					n = append(n, e.Name())
				}
				t.Fatalf("the directory holds %v", n)
			}
			if victim == "cr_checkpoint" {
				// The heap program was let go as it was, and goes on.
				hh.waitSeq(out, steps, hh.lastSeq(out, steps)+2, 60*time.Second, p)
				if st := statusField(p.pid, "TracerPid"); st != "0" {
					t.Fatalf("the program is still traced by %s", st)
				}
			}
		})
	}
}

// TestCompress: --compress=lz4 and zstd give smaller images that cr_info
// reads and cr_restart restarts, from a file or a pipe.
func TestCompress(t *testing.T) {
	hh := newH(t)
	p, out := hh.counting(3)
	pid := strconv.Itoa(p.pid)
	size := map[string]int64{}
	for _, kind := range []string{"none", "lz4", "zstd"} {
		img := hh.path("img." + kind)
		hh.mustCkpt(img, "--compress="+kind, pid)
		st, _ := os.Stat(img)
		size[kind] = st.Size()
		if r := hh.run(wait30, bin(t, "cr_info"), img); r.code != 0 || !strings.Contains(r.stdout, "process "+pid) {
			t.Fatalf("cr_info of a %s image: %s", kind, r)
		}
	}
	if size["lz4"] >= size["none"] || size["zstd"] >= size["none"] {
		t.Fatalf("compressed images are not smaller: %v", size)
	}
	t.Logf("image sizes: %v", size)
	if r := hh.ckpt("--compress=gzip", "-f", hh.path("x"), pid); r.code == 0 {
		t.Fatalf("--compress=gzip accepted: %s", r)
	}
	syscall.Kill(p.pid, syscall.SIGKILL)
	hh.waitReaped(p, "after SIGKILL")
	for _, kind := range []string{"zstd", "lz4"} {
		in, err := os.Open(hh.path("img." + kind))
		if err != nil {
			t.Fatal(err)
		}
		rs := hh.start("cr_restart-"+kind, []string{"sh", "-c", "cat | exec " + bin(t, "cr_restart") + " -F 0"}, startOpts{stdin: in})
		in.Close()
		seq := seqSpec{tickLine, 1}
		hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, rs)
		syscall.Kill(-rs.pid, syscall.SIGKILL)
		rs.wait(10 * time.Second)
		freePid(p.pid)
	}
}

// TestProgress: --progress draws a bar on stderr for a checkpoint that
// takes more than a moment (here, into a pipe whose reader starts late);
// -v alone, with stderr not a terminal, draws none.
func TestProgress(t *testing.T) {
	hh := newH(t)
	p, _ := hh.counting(3)
	pid := strconv.Itoa(p.pid)
	script := bin(t, "cr_checkpoint") + " --progress -F 1 " + pid + " | (sleep 1; cat > /dev/null)"
	r := hh.run(wait30, "sh", "-c", script)
	if r.code != 0 || !strings.Contains(r.stderr, "saving pid "+pid) {
		t.Fatalf("--progress on a slow checkpoint drew no bar: %s", r)
	}
	if r := hh.ckpt("-v", "-f", hh.path("b.img"), pid); r.code != 0 || strings.Contains(r.stderr, "saving pid") {
		t.Fatalf("-v with stderr not a terminal should draw no bar: %s", r)
	}
}

// TestWriterViaAgent: relative names given to cr_checkpoint (the image,
// --backup=NAME) mean the same through an agent, which works elsewhere.
func TestWriterViaAgent(t *testing.T) {
	counter := prog(t, "counter")
	hh := newH(t)
	run := hh.startProg("cr_run", []string{bin(t, "cr_run"), counter}, hh.path("out.txt"))
	job := strconv.Itoa(hh.jobOf(run))
	os.Mkdir(hh.path("sub"), 0o755)
	for i := 0; i < 2; i++ {
		// From another directory than the agent's.
		if r := hh.run(wait30, "sh", "-c", "cd sub && exec "+bin(t, "cr_checkpoint")+" --backup=older -f img "+job); r.code != 0 {
			t.Fatalf("through the agent: %s", r)
		}
	}
	for _, name := range []string{"sub/img", "sub/older"} {
		if _, err := os.Stat(hh.path(name)); err != nil {
			t.Fatalf("%s should be in cr_checkpoint's directory: %v", name, err)
		}
	}
}
