package e2e

import (
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestCrRunLeakedFds: a job started with cr_run from a shell that leaks
// descriptors (a pipe on fd 251 and a file on 250, as CI runners and
// batch systems do) holds none of them, so it can be checkpointed, as
// root and as uid 65534; --keep-fd 250 passes that one on at its number;
// --keep-fd of a descriptor cr_run was not given is a usage error.
func TestCrRunLeakedFds(t *testing.T) {
	needEngine(t)
	counter := prog(t, "counter")
	for _, user := range []string{"root", "nobody"} {
		for _, keep := range []bool{false, true} {
			name := user
			if keep {
				name += "/keep-fd"
			}
			t.Run(name, func(t *testing.T) {
				hh := newH(t)
				var as []string
				if user == "nobody" {
					as = hh.nobody()
				}
				fifo := hh.path("fifo")
				if err := syscall.Mkfifo(fifo, 0o666); err != nil {
					t.Fatal(err)
				}
				os.Chmod(fifo, 0o666)
				var opts []string
				if keep {
					opts = []string{"--keep-fd", "250"}
				}
				script := "exec 251<>" + fifo + "; exec 250</etc/hostname; exec \"$@\""
				argv := append(append(as, "/bin/bash", "-c", script, "bash", bin(t, "cr_run")), append(opts, counter)...)
				out := hh.path("counter.out")
				p := hh.start("cr_run", argv, startOpts{stdout: out})
				if user == "nobody" {
					os.Chown(out, 65534, 65534)
				}
				hh.waitSeq(out, seqSpec{tickLine, 1}, 2, wait30, p)
				kids := children(p.pid)
				if len(kids) != 1 {
					t.Fatalf("cr_run pid %d has children %v, want the counter alone", p.pid, kids)
				}
				want := []string{"0", "1", "2"}
				if keep {
					want = append(want, "250")
				}
				fds := fdTable(t, kids[0])
				if got := slices.Sorted(maps.Keys(fds)); !slices.Equal(got, want) {
					t.Fatalf("the job holds descriptors %v (%v), want %v", got, fds, want)
				}
				if keep && fds["250"] != "/etc/hostname" {
					t.Fatalf("the job's fd 250 is %s, want /etc/hostname", fds["250"])
				}
				img := hh.path("job.img")
				r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "-f", img, strconv.Itoa(p.pid))...)
				if r.code != 0 {
					t.Fatalf("checkpoint of a job started from a leaky shell:\n%s", r)
				}
				last := hh.lastSeq(out, seqSpec{tickLine, 1})
				hh.waitSeq(out, seqSpec{tickLine, 1}, last+2, wait30, p)
			})
		}
	}
	t.Run("keep-fd not given", func(t *testing.T) {
		hh := newH(t)
		r := hh.run(wait30, bin(t, "cr_run"), "--keep-fd", "9", counter, "1")
		if r.code != 22 || !strings.Contains(r.stderr, "--keep-fd 9") {
			t.Fatalf("cr_run --keep-fd 9 without fd 9: want exit 22 naming it, got\n%s", r)
		}
	})
}
