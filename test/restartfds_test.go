package e2e

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// fdTable is a process's descriptors: fd number to what it names.
func fdTable(t *testing.T, pid int) map[string]string {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("pid %d: %v", pid, err)
	}
	fds := map[string]string{}
	for _, e := range ents {
		fds[e.Name()], _ = os.Readlink(filepath.Join(dir, e.Name()))
	}
	return fds
}

// TestRestartHoldsOnlyImageFds: a restored process holds exactly the
// descriptors of its image, although cr_restart's caller had others open
// (fds 10-12 here) and cr_restart itself has the restorer's memfd; as
// root and as uid 65534 (whose restart runs in namespaces of its own).
// cr_restart -v says what it restored.
func TestRestartHoldsOnlyImageFds(t *testing.T) {
	counter := prog(t, "counter")
	needEngine(t)
	seq := seqSpec{tickLine, 1}
	// The caller leaks three descriptors to cr_restart, as a CI runner's
	// shell does.
	leaky := []string{"bash", "-c", `exec 10</etc/hostname 11>/dev/null 12<&0; exec "$@"`, "leaky"}
	for _, user := range []string{"root", "uid65534"} {
		t.Run(user, func(t *testing.T) {
			hh := newH(t)
			var as []string
			out := hh.path("counter.out")
			var p *proc
			if user == "root" {
				p = hh.startProg("counter", []string{counter}, out)
			} else {
				as = hh.nobody()
				p = hh.startNobody("counter", []string{counter}, out)
			}
			hh.waitSeq(out, seq, 3, wait30, p)
			want := fdTable(t, p.pid)
			img := hh.path("c.img")
			hh.killCkpt(as, p, img)
			last := hh.lastSeq(out, seq)

			argv := append(append(append(leaky[:len(leaky):len(leaky)], as...), bin(t, "cr_restart"), "-v"), img)
			r := hh.start("cr_restart", argv, startOpts{})
			t.Cleanup(func() { killRestored(p.pid, r.pid) })
			hh.waitSeq(out, seq, last+3, wait30, r)
			pid := p.pid
			if user != "root" {
				pid, _ = nsPid(t, r.pid, int64(p.pid), r)
			}
			if got := fdTable(t, pid); !reflect.DeepEqual(got, want) {
				t.Errorf("restored pid %d holds fds %v; its image had %v", pid, got, want)
			}
			stderr, _ := os.ReadFile(r.stderr)
			if !strings.Contains(string(stderr), "cr_restart: restored "+img) {
				t.Errorf("cr_restart -v did not say what it restored; stderr:\n%s", stderr)
			}
			r.kill()
		})
	}
}
