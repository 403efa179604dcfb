package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// credFields are the lines of /proc/PID/status that say what a process
// may do.
var credFields = []string{"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"}

func creds(pid int) map[string]string {
	m := map[string]string{}
	for _, f := range credFields {
		m[f] = statusField(pid, f)
	}
	return m
}

// editedFd is a descriptor an edited image adds: path opened with flags.
func editedFd(t *testing.T, num int, path string, flags int) map[string]any {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"num": num, "kind": "file", "path": path, "flags": flags, "pos": 0, "size": st.Size(), "mode": uint32(st.Mode().Perm()) | 0o100000}
}

// nobodyImage runs a counter as uid 65534 and checkpoints it with --kill
// as that user; it returns the user's argv prefix, the process, its
// output, the image and the process's credentials.
func nobodyImage(t *testing.T) (*h, []string, *proc, string, string, map[string]string) {
	counter := prog(t, "counter")
	needEngine(t)
	hh := newH(t)
	as := hh.nobody()
	out := hh.path("counter.out")
	p := hh.startNobody("counter", []string{counter}, out)
	hh.waitSeq(out, seqSpec{tickLine, 1}, 3, wait30, p)
	want := creds(p.pid)
	img := hh.path("c.img")
	hh.killCkpt(as, p, img)
	return hh, as, p, out, img, want
}

func fileSum(t *testing.T, path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestRootRestoresAsOwner: root restarting an image that uid 65534 wrote,
// then edited as docs/FORMAT.md lets anyone edit one (checksums made right
// again), gains nothing: an image claiming uid 0 and every capability, one
// holding /etc/shadow open for reading or /etc/passwd for writing, one
// whose cwd is /root, is refused or runs as uid 65534 with that user's
// capabilities and without the file. The unedited image restarts as
// uid 65534 and its counter goes on. An image its group or others may
// write is refused (exit 13, EACCES); --trust-image is root's only.
func TestRootRestoresAsOwner(t *testing.T) {
	hh, as, p, out, img, want := nobodyImage(t)
	seq := seqSpec{tickLine, 1}
	shadow, passwd := fileSum(t, "/etc/shadow"), fileSum(t, "/etc/passwd")

	ownerGroups := strings.Fields(hh.run(wait30, "id", "-G", "65534").stdout)
	full := json.Number(strconv.FormatUint(1<<41-1, 10))
	edits := []struct {
		name string
		edit func(p map[string]any)
	}{
		{"unedited", func(map[string]any) {}},
		{"uid 0 and every capability", func(p map[string]any) {
			c := p["creds"].(map[string]any)
			c["uid"], c["gid"], c["groups"] = []int{0, 0, 0, 0}, []int{0, 0, 0, 0}, []int{0}
			for _, k := range []string{"cap_inh", "cap_prm", "cap_eff", "cap_bnd", "cap_amb"} {
				c[k] = full
			}
		}},
		{"/etc/shadow open for reading", func(p map[string]any) {
			p["fds"] = append(p["fds"].([]any), editedFd(t, 7, "/etc/shadow", os.O_RDONLY))
		}},
		{"/etc/passwd open for writing", func(p map[string]any) {
			p["fds"] = append(p["fds"].([]any), editedFd(t, 8, "/etc/passwd", os.O_WRONLY))
		}},
		{"cwd in /root", func(p map[string]any) { p["cwd"] = "/root" }},
		{"every resource limit unlimited", func(p map[string]any) {
			for _, r := range p["rlimits"].([]any) {
				r.(map[string]any)["max"] = json.Number(strconv.FormatUint(^uint64(0), 10))
			}
		}},
	}
	for i, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			edited := hh.path("edited" + strconv.Itoa(i) + ".img")
			editImage(t, img, edited, e.edit)
			if err := os.Chown(edited, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			last := hh.lastSeq(out, seq)
			r := hh.restartAs("restart"+strconv.Itoa(i), nil, edited)
			t.Cleanup(func() { killRestored(p.pid, r.pid) })
			ran := false
			for deadline := time.Now().Add(10 * time.Second); !r.exited() && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if ran = hh.lastSeq(out, seq) > last+2; ran {
					break
				}
			}
			if !ran {
				if e.name == "unedited" {
					t.Fatalf("root could not restart uid 65534's own image:\n%s", r.describe())
				}
				if !r.exited() || r.state.ExitCode() == 0 {
					t.Fatalf("the edited image neither ran nor was refused:\n%s", r.describe())
				}
				t.Logf("refused: %s", strings.TrimSpace(r.describe()))
				return
			}
			pid, _ := nsPid(t, r.pid, int64(p.pid), r)
			got := creds(pid)
			for _, g := range strings.Fields(got["Groups"]) {
				if !slices.Contains(ownerGroups, g) {
					t.Errorf("restored pid %d is in group %s; uid 65534 is in %v", pid, g, ownerGroups)
				}
			}
			got["Groups"], want["Groups"] = "", "" // those /etc/group gives uid 65534 (setpriv --clear-groups gave none)
			if !equalMaps(got, want) {
				t.Errorf("restored pid %d runs with %v; uid 65534's process had %v", pid, got, want)
			}
			for fd, target := range fdTable(t, pid) {
				if target == "/etc/shadow" || target == "/etc/passwd" {
					t.Errorf("restored pid %d holds %s on fd %s", pid, target, fd)
				}
			}
			if cwd, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd"); cwd == "/root" {
				t.Errorf("restored pid %d works in /root", pid)
			}
			if above := limitsAbove(t, pid, os.Getpid()); above != "" {
				t.Errorf("restored pid %d has limits above those of the cr_restart that restored it: %s", pid, above)
			}
			r.kill()
			r.wait(10 * time.Second)
		})
	}
	if fileSum(t, "/etc/shadow") != shadow || fileSum(t, "/etc/passwd") != passwd {
		t.Fatal("/etc/shadow or /etc/passwd changed")
	}

	// An image that others could have written is not restored by root.
	loose := hh.path("loose.img")
	b, _ := os.ReadFile(img)
	os.WriteFile(loose, b, 0o600)
	os.Chown(loose, 65534, 65534)
	os.Chmod(loose, 0o666)
	r := hh.run(wait30, bin(t, "cr_restart"), loose)
	if r.code != 13 || !strings.Contains(r.stderr, "lets its group or others write it") {
		t.Errorf("root restarting a world-writable image: want exit 13 naming its mode, got\n%s", r)
	}
	// Nor one in a directory others may write, without the sticky bit.
	open := filepath.Join(hh.dir, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	inOpen := filepath.Join(open, "c.img")
	os.WriteFile(inOpen, b, 0o600)
	os.Chown(inOpen, 65534, 65534)
	if r := hh.run(wait30, bin(t, "cr_restart"), inOpen); r.code != 13 || !strings.Contains(r.stderr, "replace it") {
		t.Errorf("root restarting an image in a directory anyone may write: want exit 13, got\n%s", r)
	}
	if r := hh.run(wait30, append(as, bin(t, "cr_restart"), "--trust-image", img)...); r.code != 22 || !strings.Contains(r.stderr, "only root") {
		t.Errorf("uid 65534 giving --trust-image: want exit 22, got\n%s", r)
	}
}

// limitsAbove names the hard resource limits of pid above those of ref.
func limitsAbove(t *testing.T, pid, ref int) string {
	t.Helper()
	read := func(pid int) map[string]uint64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]uint64{}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if len(line) < 47 {
				continue
			}
			name, hard := strings.TrimSpace(line[:26]), strings.Fields(line[47:])
			if len(hard) == 0 {
				continue
			}
			v, err := strconv.ParseUint(hard[0], 10, 64)
			if hard[0] == "unlimited" {
				v, err = ^uint64(0), nil
			}
			if err == nil {
				m[name] = v
			}
		}
		return m
	}
	got, limit := read(pid), read(ref)
	var above []string
	for name, v := range got {
		if v > limit[name] {
			above = append(above, fmt.Sprintf("%s %d > %d", name, v, limit[name]))
		}
	}
	return strings.Join(above, ", ")
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestUserRestoresExactCaps: an ordinary user restarting an image edited
// to claim every permitted, inheritable and effective capability (which
// its restart's user namespace can grant) but no ambient ones gets no
// ambient capabilities, though cr_restart holds all of its namespace's as
// ambient ones: the sets restored are exactly the image's.
func TestUserRestoresExactCaps(t *testing.T) {
	hh, as, p, out, img, _ := nobodyImage(t)
	seq := seqSpec{tickLine, 1}
	edited := hh.path("caps.img")
	all := strings.TrimSpace(statusField(os.Getpid(), "CapBnd"))
	allN, err := strconv.ParseUint(all, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	editImage(t, img, edited, func(p map[string]any) {
		c := p["creds"].(map[string]any)
		for _, k := range []string{"cap_inh", "cap_prm", "cap_eff"} {
			c[k] = json.Number(strconv.FormatUint(allN, 10))
		}
		c["cap_amb"] = json.Number("0")
	})
	os.Chown(edited, 65534, 65534)
	last := hh.lastSeq(out, seq)
	r := hh.restartAs("restart", as, edited)
	t.Cleanup(func() { killRestored(p.pid, r.pid) })
	hh.waitSeq(out, seq, last+3, wait30, r)
	pid, _ := nsPid(t, r.pid, int64(p.pid), r)
	if got := statusField(pid, "CapAmb"); strings.Trim(got, "0") != "" {
		t.Errorf("restored pid %d has ambient capabilities %s; its image recorded none", pid, got)
	}
	if got := statusField(pid, "CapEff"); got != all {
		t.Logf("restored pid %d: CapEff %s (the image claimed %s)", pid, got, all)
	}
	r.kill()
	r.wait(10 * time.Second)
}

// bitsLine is what the securebits program below prints.
var bitsLine = regexp.MustCompile(`(?m)^tick (\d+) bits (\d+)$`)

// TestSecurebitsKept: a root process started with securebits set (here
// noroot and no_setuid_fixup, which stop it regaining capabilities)
// comes back from its image with the same bits, as it reads them itself
// (prctl PR_GET_SECUREBITS), never with fewer restrictions.
func TestSecurebitsKept(t *testing.T) {
	needEngine(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: only root starts a process with securebits set here")
	}
	hh := newH(t)
	py := python(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal(err)
	}
	src := `import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
n = 0
while True:
    n += 1
    print("tick %d bits %d" % (n, libc.prctl(27, 0, 0, 0, 0)), flush=True)
    time.sleep(0.05)
`
	out := hh.path("bits.out")
	p := hh.startProg("bits", []string{setpriv, "--securebits=+noroot,+no_setuid_fixup", py, "-c", src}, out)
	seq := seqSpec{bitsLine, 1}
	hh.waitSeq(out, seq, 3, wait30, p)
	const want = "5" // SECBIT_NOROOT | SECBIT_NO_SETUID_FIXUP
	lastBits := func() string {
		m := bitsLine.FindAllStringSubmatch(tailFile(out), -1)
		if len(m) == 0 {
			return ""
		}
		return m[len(m)-1][2]
	}
	if b := lastBits(); b != want {
		t.Fatalf("the program reads securebits %s before any checkpoint, want %s", b, want)
	}
	img := hh.path("bits.img")
	hh.checkpoint("--kill", p.pid, img, wait30)
	hh.waitReaped(p, "checkpointed with --kill")
	last := hh.lastSeq(out, seq)
	r := hh.restart("restart", img, p.pid, nil)
	hh.waitSeq(out, seq, last+3, wait30, r)
	if b := lastBits(); b != want {
		t.Fatalf("the restored program reads securebits %s, want %s", b, want)
	}
	hh.stopRestored(p.pid, r)
}
