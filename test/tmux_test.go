package e2e

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var tmuxCount = regexp.MustCompile(`(?m)^n(\d+)$`)

// TestTmux: a tmux server (Debian's tmux) with a session whose pane counts
// is checkpointed as a tree with --kill and restarted: tmux answers on its
// socket again, and capture-pane shows the count going on, its history
// whole, every number once and in order. As root and as uid 65534.
func TestTmux(t *testing.T) {
	needEngine(t)
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatalf("tmux is not installed (.ci/run installs it): %v", err)
	}
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			hh := newH(t)
			var as []string
			if who == "nobody" {
				as = hh.nobody()
			}
			sock := hh.path("tmux.sock")
			// SHELL: without it tmux runs the pane's command with the
			// user's login shell, which for nobody is nologin.
			client := func(args ...string) result {
				return hh.run(wait30, append(append(as[:len(as):len(as)], "env", "TERM=xterm", "SHELL=/bin/sh", tmux, "-S", sock, "-f", "/dev/null"), args...)...)
			}
			if r := client("new-session", "-d", "-s", "job", "-x", "80", "-y", "24", "i=0; while :; do i=$((i+1)); echo n$i; sleep 0.05; done"); r.code != 0 {
				t.Fatalf("tmux new-session:\n%s", r)
			}
			r := client("display-message", "-p", "#{pid}")
			server, err := strconv.Atoi(strings.TrimSpace(r.stdout))
			if r.code != 0 || err != nil {
				t.Fatalf("tmux display-message #{pid}:\n%s", r)
			}
			t.Cleanup(func() { client("kill-server") })
			// count is the highest number the pane shows and checks that
			// its history holds 1 to it, each once.
			count := func() int {
				r := client("capture-pane", "-p", "-S", "-100000", "-t", "job")
				if r.code != 0 {
					t.Fatalf("tmux capture-pane:\n%s", r)
				}
				ns := tmuxCount.FindAllStringSubmatch(r.stdout, -1)
				for i, m := range ns {
					if m[1] != strconv.Itoa(i+1) {
						t.Fatalf("the pane's history has n%s where n%d belongs:\n%s", m[1], i+1, tail([]byte(r.stdout), 10))
					}
				}
				return len(ns)
			}
			waitCount := func(atLeast int, what string) int {
				for deadline := time.Now().Add(wait30); ; time.Sleep(50 * time.Millisecond) {
					if n := count(); n >= atLeast {
						return n
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: the pane never counted to %d", what, atLeast)
					}
				}
			}
			waitCount(5, "before the checkpoint")
			tree := append([]int{server}, descendants(server)...)
			if r := hh.run(wait30, append(as[:len(as):len(as)], bin(t, "cr_checkpoint"), "--tree", "--kill", "-f", hh.path("img"), strconv.Itoa(server))...); r.code != 0 {
				t.Fatalf("checkpoint of the tmux server:\n%s", r)
			}
			for _, d := range tree { // orphans, reparented to us
				reap(d, 10*time.Second)
				waitGone(d, 10*time.Second)
			}
			if r := client("has-session", "-t", "job"); r.code == 0 {
				t.Fatalf("tmux still answers after --kill:\n%s", r)
			}
			rs := hh.restartAs("restart", as, hh.path("img"))
			t.Cleanup(func() { killRestored(server, rs.pid) })
			for deadline := time.Now().Add(wait30); client("has-session", "-t", "job").code != 0; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) || rs.exited() {
					t.Fatalf("the restarted tmux server never answered\n%s", rs.describe())
				}
			}
			n := count()
			waitCount(n+10, "after the restart")
		})
	}
}
