package e2e

// Real programs nobody here wrote, checkpointed as trees midway through
// their work: GNU make with its compilers, Redis with a client.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// makeFiles is how many C files TestMakeJobs compiles.
const makeFiles = 200

// writeProject writes into dir a C project of makeFiles files, fN.c
// defining fN() returning N*N+1, and main.c printing the sum of their
// values, with a Makefile that builds it as prog, its compilers' temporary
// files in dir/tmp. It returns the sum prog must print.
func writeProject(t *testing.T, dir string) int {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	var main, objs strings.Builder
	main.WriteString("#include <stdio.h>\n")
	sum := 0
	for i := range makeFiles {
		src := fmt.Sprintf("int f%d(void) { volatile int n = %d; return n * n + 1; }\n", i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.c", i)), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&main, "int f%d(void);\n", i)
		fmt.Fprintf(&objs, " f%d.o", i)
		sum += i*i + 1
	}
	main.WriteString("int main(void) {\n\tlong s = 0;\n")
	for i := range makeFiles {
		fmt.Fprintf(&main, "\ts += f%d();\n", i)
	}
	main.WriteString("\tprintf(\"sum %ld\\n\", s);\n\treturn 0;\n}\n")
	mf := "export TMPDIR := $(CURDIR)/tmp\n" +
		"prog: main.o" + objs.String() + "\n\tgcc -o $@ $^\n" +
		"%.o: %.c\n\tgcc -O2 -c -o $@ $<\n"
	for name, text := range map[string]string{"main.c": main.String(), "Makefile": mf} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sum
}

// objects counts the .o files in dir.
func objects(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "*.o"))
	return len(m)
}

// TestMakeJobs: make -j2 building a project of 200 C files (GNU make's
// jobserver pipe, gcc and its cc1 and as coming and going) is
// checkpointed as a tree with --kill while compilers run, some objects
// built and not all; restarted, the build finishes and the program it
// built prints the right sum; as root and as uid 65534.
func TestMakeJobs(t *testing.T) {
	needEngine(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skipf("gcc is not installed: %v", err)
	}
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skipf("make is not installed: %v", err)
	}
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			if who == "nobody" {
				as = hh.nobody()
			}
			proj := hh.path("proj")
			want := writeProject(t, proj)
			if as != nil {
				chownTree(t, proj, 65534)
			}
			m := hh.start("make", append(as, mk, "-s", "-j2", "-C", proj), startOpts{})
			if as != nil {
				os.Chown(m.stdout, 65534, 65534)
				os.Chown(m.stderr, 65534, 65534)
			}
			// Some objects built, not all: compilers are running.
			for deadline := time.Now().Add(wait30); objects(proj) < 20; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) || m.exited() {
					t.Fatalf("make built %d objects\n%s", objects(proj), m.describe())
				}
			}
			img := hh.path("make.img")
			began := time.Now()
			if r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "--kill", "-f", img, strconv.Itoa(m.pid))...); r.code != 0 {
				t.Fatalf("checkpoint:\n%s", r)
			}
			built := objects(proj)
			t.Logf("checkpointed with %d of %d objects built in %v", built, makeFiles+1, time.Since(began).Round(time.Millisecond))
			if built > makeFiles {
				t.Fatalf("the build was over (%d objects) before the checkpoint: it proves nothing", built)
			}
			hh.waitReaped(m, "checkpointed with --kill")
			procs := hh.imageProcs(img)
			t.Logf("the image holds %v", procs)
			compilers := 0
			for _, p := range procs {
				switch p.comm {
				case "gcc", "cc1", "as", "collect2", "ld":
					compilers++
				}
			}
			if compilers == 0 {
				t.Fatalf("no compiler was running at the checkpoint (the image holds %v): it proves little", procs)
			}
			hh.pidsFree(procs)
			r := hh.restartAs("restart", as, img)
			t.Cleanup(func() {
				killRestored(m.pid, r.pid)
				for _, d := range descendants(r.pid) {
					syscall.Kill(d, syscall.SIGKILL)
				}
			})
			if !r.wait(60*time.Second) || !r.state.Success() {
				t.Fatalf("the restored make -j2 did not finish well\n%s\nmake's stderr:\n%s", r.describe(), readAll(m.stderr))
			}
			t.Logf("the restored build finished %v after the checkpoint", time.Since(began).Round(time.Millisecond))
			out := hh.run(wait30, filepath.Join(proj, "prog"))
			if got := strings.TrimSpace(out.stdout); out.code != 0 || got != fmt.Sprintf("sum %d", want) {
				t.Fatalf("the program built says %q, want \"sum %d\"\n%s", got, want, out)
			}
		})
	}
}

// chownTree gives dir and everything in it to uid (and gid) id.
func chownTree(t *testing.T, dir string, id int) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, id, id)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readAll(path string) string {
	b, _ := os.ReadFile(path)
	return indent(string(b))
}

// imageProc is a process an image holds, as cr_info names it.
type imageProc struct {
	pid  int
	comm string
}

func (p imageProc) String() string { return fmt.Sprintf("%d (%s)", p.pid, p.comm) }

var processLine = regexp.MustCompile(`(?m)^process (\d+) \((.*)\) `)

// imageProcs lists the processes of img, parents first.
func (hh *h) imageProcs(img string) []imageProc {
	hh.t.Helper()
	info := hh.run(wait30, bin(hh.t, "cr_info"), img)
	if info.code != 0 {
		hh.t.Fatalf("cr_info:\n%s", info)
	}
	var ps []imageProc
	for _, m := range processLine.FindAllStringSubmatch(info.stdout, -1) {
		pid, _ := strconv.Atoi(m[1])
		ps = append(ps, imageProc{pid, m[2]})
	}
	return ps
}

// pidsFree waits until the pids of ps are free again (the processes a
// --kill checkpoint killed, and reaps those reparented to us), so that a
// restart can give them back.
func (hh *h) pidsFree(ps []imageProc) {
	for _, p := range ps {
		reap(p.pid, 10*time.Second)
		if !waitGone(p.pid, 10*time.Second) {
			hh.t.Fatalf("pid %d (%s) is still taken 10 s after the checkpoint killed it", p.pid, p.comm)
		}
	}
}
