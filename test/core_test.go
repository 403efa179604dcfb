package e2e

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestCore: cr_info --core writes a core that gdb reads as a core the
// kernel dumped: every thread's backtrace with the test program's and
// libc's function names, a global, a heap string and each thread's local,
// and the registers the image holds. From --run, --stop and --kill
// checkpoints, compressed, as a checkpoint directory, and as uid 65534.
// A damaged image leaves no core behind.
func TestCore(t *testing.T) {
	hung := prog(t, "hung")
	needEngine(t)
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		t.Fatalf("gdb is needed (Debian package gdb; .ci/run installs it): %v", err)
	}
	for _, c := range []struct {
		name string
		args []string
		as   bool
	}{
		{"run", []string{"--run"}, false},
		{"stop", []string{"--stop"}, false},
		{"kill-zstd", []string{"--kill", "--compress=zstd"}, false},
		{"dir", []string{"--run", "-d"}, false},
		{"nobody", []string{"--run"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			hh := newH(t)
			var as []string
			if c.as {
				as = hh.nobody()
			}
			out := hh.path("out.txt")
			p := hh.startProg("hung", append(as, hung), out)
			hh.waitOutput(out, wait30, "hung ready", func(d []byte) (bool, error) { return strings.HasPrefix(string(d), "ready"), nil }, p)
			img := hh.path("img")
			args := append(append(append([]string{}, as...), bin(t, "cr_checkpoint")), c.args...)
			if c.name != "dir" {
				args = append(args, "-f")
			}
			args = append(args, img, strconv.Itoa(p.pid))
			if r := hh.run(wait30, args...); r.code != 0 {
				t.Fatalf("checkpoint:\n%s", r)
			}
			if c.name == "kill-zstd" {
				hh.waitReaped(p, "after --kill")
			} else {
				defer p.kill()
			}
			cores := hh.path("cores") // made by cr_info, as whoever runs it
			r := hh.run(wait30, append(append([]string{}, as...), bin(t, "cr_info"), "--core", cores, img)...)
			if r.code != 0 {
				t.Fatalf("cr_info --core:\n%s", r)
			}
			core := filepath.Join(cores, "core."+strconv.Itoa(p.pid))
			if strings.TrimSpace(r.stdout) != core {
				t.Fatalf("cr_info --core printed %q, want %s", r.stdout, core)
			}
			g := hh.run(wait30, gdb, "-batch", "-nx", "-ex", "thread apply all bt full", "-ex", "p answer_global",
				"-ex", "p heap_string", "-ex", "thread 1", "-ex", "info registers rip rsp", hung, core)
			if g.code != 0 {
				t.Fatalf("gdb:\n%s", g)
			}
			for _, want := range []string{"wait_in_reader", "wait_in_sleeper", "in main ()", "reader (", "sleeper (",
				"start_thread", "local_reader = 777", "local_sleeper = 888", "$1 = 4242", `"needle in the heap"`} {
				if !strings.Contains(g.stdout, want) {
					t.Errorf("gdb's output lacks %q", want)
				}
			}
			if n := strings.Count(g.stdout, "\nThread "); n != 3 {
				t.Errorf("gdb shows %d threads, want 3", n)
			}
			rip, rsp := mainRegs(t, hh, img, p.pid)
			for name, v := range map[string]uint64{"rip": rip, "rsp": rsp} {
				if !regexp.MustCompile(`(?m)^` + name + `\s+0x0*` + strconv.FormatUint(v, 16) + `\s`).MatchString(g.stdout) {
					t.Errorf("gdb's %s is not the image's %#x", name, v)
				}
			}
			if t.Failed() {
				t.Logf("gdb:\n%s", g.stdout)
			}
		})
	}

	// A damaged image: cr_info's usual error, and nothing in DIR.
	hh := newH(t)
	p := hh.startProg("hung", []string{hung}, hh.path("out.txt"))
	hh.waitOutput(hh.path("out.txt"), wait30, "hung ready", func(d []byte) (bool, error) { return strings.HasPrefix(string(d), "ready"), nil }, p)
	defer p.kill()
	img := hh.path("img")
	hh.checkpoint("--run", p.pid, img, wait30)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)*3/4] ^= 0x55
	os.WriteFile(img, b, 0o644)
	cores := hh.path("cores")
	r := hh.run(wait30, bin(t, "cr_info"), "--core", cores, img)
	plain := hh.run(wait30, bin(t, "cr_info"), img)
	if r.code != 1 || r.stderr != plain.stderr {
		t.Fatalf("damaged image: --core exit %d (want 1) saying %q; plain cr_info says %q", r.code, r.stderr, plain.stderr)
	}
	if left, _ := os.ReadDir(cores); len(left) != 0 {
		t.Fatalf("damaged image: %d files left in %s", len(left), cores)
	}
}

// mainRegs returns the main thread's rip and rsp as the image holds them
// (user_regs_struct: rip is the 17th word, rsp the 20th).
func mainRegs(t *testing.T, hh *h, img string, pid int) (rip, rsp uint64) {
	t.Helper()
	m := hh.checkInfoJSON(img)
	for _, p := range m["processes"].([]any) {
		pm := p.(map[string]any)
		if int(pm["pid"].(float64)) != pid {
			continue
		}
		for _, th := range pm["threads"].([]any) {
			tm := th.(map[string]any)
			if int(tm["tid"].(float64)) != pid {
				continue
			}
			regs, err := base64.StdEncoding.DecodeString(tm["regs"].(string))
			if err != nil || len(regs) < 21*8 {
				t.Fatalf("regs of tid %d: %v (%d bytes)", pid, err, len(regs))
			}
			return binary.LittleEndian.Uint64(regs[16*8:]), binary.LittleEndian.Uint64(regs[19*8:])
		}
	}
	t.Fatal(fmt.Sprintf("pid %d: no main thread in the image", pid))
	return 0, 0
}
