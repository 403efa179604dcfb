package e2e

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestFdKindRefused: a checkpoint of a process holding an fd that cannot
// be saved fails naming the pid, the fd and the kind, as root and as uid
// 65534: a POSIX message queue with an mq_notify registration, or whose
// name was removed while the process holds it open, a fanotify
// instance, and (without the privilege to open a file handle) an inotify
// watch on a directory moved where its path cannot be found.
func TestFdKindRefused(t *testing.T) {
	needEngine(t)
	both, nobody := []string{"root", "nobody"}, []string{"nobody"}
	cases := []struct {
		name  string
		users []string
		run   func(hh *h, as []string) (*proc, string) // the process, and the refusal wanted (a regexp; PID stands for its pid)
	}{
		{"mq_notify", both, func(hh *h, as []string) (*proc, string) {
			name := mqName(hh.t, "notify")
			p, _ := hh.startMqueue(as, name, "notify")
			return p, `pid PID fd \d+: POSIX message queue ` + regexp.QuoteMeta(name) + `: mq_notify registration \(by pid PID\): not checkpointable`
		}},
		{"mq removed while open", both, func(hh *h, as []string) (*proc, string) {
			name := mqName(hh.t, "unlinked")
			p, _ := hh.startMqueue(as, name, "unlink")
			return p, `pid PID fd \d+: POSIX message queue ` + regexp.QuoteMeta(name) + `, removed \(mq_unlink\) while open: not checkpointable`
		}},
		{"fanotify", both, func(hh *h, as []string) (*proc, string) {
			p, _ := hh.startWatch(as, "fanotify")
			return p, `pid PID fd \d+: fanotify \(anon_inode:\[fanotify\]\): not checkpointable`
		}},
		// Root finds it from its file handle (TestInotify).
		{"inotify watch lost", nobody, func(hh *h, as []string) (*proc, string) {
			hh.mkdirs(as, "x/y/d1", "x/y/z", "scratch", "d2")
			p, _ := hh.startWatch(as, "x/y/d1", "scratch", "d2")
			if err := os.Rename(hh.path("x/y/d1"), hh.path("x/y/z/moved")); err != nil {
				hh.t.Fatal(err)
			}
			return p, `pid PID fd \d+: inotify watch 1 \(inode \d+ on device \d+:\d+\): its path cannot be found \(as root it is found from its file handle; .*\): not checkpointable`
		}},
	}
	for _, c := range cases {
		for _, user := range c.users {
			t.Run(c.name+"/"+user, func(t *testing.T) {
				hh := newH(t)
				var as []string
				if user == "nobody" {
					as = hh.nobody()
				}
				p, want := c.run(hh, as)
				r := hh.run(wait30, append(as, bin(t, "cr_checkpoint"), "-f", hh.path("img"), strconv.Itoa(p.pid))...)
				re := regexp.MustCompile(strings.ReplaceAll(want, "PID", strconv.Itoa(p.pid)))
				if r.code == 0 || !re.MatchString(r.stderr) {
					t.Fatalf("want a refusal matching %q, got\n%s", re, r)
				}
				if p.exited() {
					t.Fatalf("the refused checkpoint harmed the process\n%s", p.describe())
				}
			})
		}
	}
}
