package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var watchEvent = regexp.MustCompile(`(?m)^event .*$`)

// startWatch starts test/progs/watch in hh's directory with args, as uid
// 65534 if as is not nil, and waits until it ticks.
func (hh *h) startWatch(as []string, args ...string) (*proc, string) {
	hh.t.Helper()
	out := hh.path("watch.out")
	argv := append([]string{prog(hh.t, "watch")}, args...)
	var p *proc
	if as != nil {
		p = hh.startNobody("watch", argv, out)
	} else {
		p = hh.startProg("watch", argv, out)
	}
	hh.waitNumber(out, mqTick, 3, p)
	return p, out
}

// mkdirs makes directories in hh's directory, owned by uid 65534 if as
// is not nil.
func (hh *h) mkdirs(as []string, dirs ...string) {
	hh.t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(hh.path(d), 0o755); err != nil {
			hh.t.Fatal(err)
		}
		if as != nil {
			for p := d; p != "."; p = filepath.Dir(p) {
				os.Chown(hh.path(p), 65534, 65534)
			}
		}
	}
}

// waitEvents waits until the watcher's output holds exactly the event
// lines want (more fails the test at once).
func (hh *h) waitEvents(out string, want []string, watch ...*proc) {
	hh.t.Helper()
	hh.waitOutput(out, wait30, "the events "+strings.Join(want, ", "), func(data []byte) (bool, error) {
		got := watchEvent.FindAllString(string(data), -1)
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				return false, fmt.Errorf("event %d is %q, want %q (all: %q)", i+1, got[i], want[i], got)
			}
		}
		if len(got) > len(want) {
			return false, fmt.Errorf("events %q, want %q", got, want)
		}
		return len(got) == len(want), nil
	}, watch...)
}

// TestInotify: an inotify watcher of two directories whose watch
// descriptors are 1 and 4 (it added and removed two watches between them)
// is checkpointed with --kill and restarted, as root (the watched
// directories are found from their file handles) and as uid 65534 (found
// among its arguments): it sees the files made, moved in and removed in
// the directories after the restart, with the same descriptors, and no
// other event. As root the directory watched first has moved, to where
// no search would find it, before the checkpoint.
func TestInotify(t *testing.T) {
	needEngine(t)
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			hh := newH(t)
			var as []string
			if user == "nobody" {
				as = hh.nobody()
			}
			hh.mkdirs(as, "x/y/d1", "x/y/z", "scratch", "d2")
			p, out := hh.startWatch(as, "x/y/d1", "scratch", "d2")
			if b, _ := os.ReadFile(out); !strings.Contains(string(b), "wd 1 x/y/d1\nwd 4 d2\n") {
				t.Fatalf("the watcher did not get descriptors 1 and 4:\n%s", tail(b, 5))
			}
			d1 := "x/y/d1"
			if user == "root" {
				d1 = "x/y/z/moved"
				if err := os.Rename(hh.path("x/y/d1"), hh.path(d1)); err != nil {
					t.Fatal(err)
				}
			}
			touch := func(name string) {
				if err := os.WriteFile(hh.path(name), nil, 0o666); err != nil {
					t.Fatal(err)
				}
			}
			touch(d1 + "/before")
			want := []string{"event 2 8000 ", "event 3 8000 ", "event 1 100 before"}
			hh.waitEvents(out, want, p)
			if r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "--kill", "-f", hh.path("img"), strconv.Itoa(p.pid))...); r.code != 0 {
				t.Fatalf("checkpoint:\n%s", r)
			}
			hh.waitReaped(p, "checkpointed with --kill")
			b, _ := os.ReadFile(out)
			last := lastNumber(b, mqTick)
			r := hh.restartAs("restart", as, hh.path("img"))
			t.Cleanup(func() { killRestored(p.pid, r.pid) })
			hh.waitNumber(out, mqTick, last+3, r)
			touch(d1 + "/after")
			touch("d2/gone")
			os.Remove(hh.path("d2/gone"))
			touch("scratch/moved")
			if err := os.Rename(hh.path("scratch/moved"), hh.path(d1+"/moved")); err != nil {
				t.Fatal(err)
			}
			want = append(want, "event 1 100 after", "event 4 100 gone", "event 4 200 gone", "event 1 80 moved")
			hh.waitEvents(out, want, r)
		})
	}
}
