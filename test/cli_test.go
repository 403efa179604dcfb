package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestRunArgsBelongToProg: everything from PROG on is PROG's, even what
// looks like one of cr_run's own options.
func TestRunArgsBelongToProg(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	os.Mkdir(hh.path("sub"), 0o755)
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"ls", "-d", hh.path("sub")}, hh.path("sub") + "\n"},
		{[]string{"echo", "-f", "hello"}, "-f hello\n"},
		{[]string{"--interval", "1h", "echo", "-q", "--interval", "2"}, "-q --interval 2\n"},
		{[]string{"echo", "--", "x"}, "-- x\n"},
	} {
		r := hh.run(wait30, append([]string{bin(t, "cr_run")}, c.argv...)...)
		if r.code != 0 || r.stdout != c.want {
			t.Errorf("want exit 0 and stdout %q:\n%s", c.want, r)
		}
	}
	r := hh.run(wait30, bin(t, "cr_run"), "echo", "--version")
	if r.code != 0 || strings.Contains(r.stdout, "stasis") {
		t.Errorf("cr_run echo --version printed stasis's version, not echo's:\n%s", r)
	}
}

// TestUsageErrors: every command exits 22 (EINVAL, as BLCR's tools did)
// on a usage error and 0 for -?, and says what is wrong.
func TestUsageErrors(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	text := hh.path("notes.txt")
	os.WriteFile(text, []byte(strings.Repeat("not an image at all\n", 100)), 0o644)
	for _, c := range []struct {
		argv []string
		code int
		msg  string
	}{
		{[]string{"cr_run", "--bogus", "echo"}, 22, "unknown flag --bogus"},
		{[]string{"cr_checkpoint", "--bogus", "1"}, 22, "unknown flag --bogus"},
		{[]string{"cr_restart", "--bogus"}, 22, "unknown flag --bogus"},
		{[]string{"cr_info", "--bogus", text}, 22, "unknown flag --bogus"},
		{[]string{"cr_checkpoint", "abc"}, 1, "-n abc: no process of yours"}, // an ID that is not a number is a name
		{[]string{"cr_checkpoint"}, 22, "give the ID of what to checkpoint, or -n NAME"},
		{[]string{"cr_checkpoint", "-n", "abc", "1"}, 22, "-n abc and ID 1: give one of them"},
		{[]string{"cr_checkpoint", "-g", "-n", "abc"}, 1, "-g and -s take a group or session id"},
		{[]string{"cr_checkpoint", "-f", "x", "-F", "1", "1"}, 22, "give one destination, not both"},
		{[]string{"cr_checkpoint", "-t", "abc", "1"}, 22, "--time"},
		{[]string{"cr_run", "--checkpoint-signal", "KILL", "echo"}, 22, "no process can catch SIGKILL"},
		{[]string{"cr_run", "--checkpoint-exit-signal", "STOP", "echo"}, 22, "no process can catch SIGSTOP"},
		{[]string{"cr_restart", "--checkpoint-signal", "9", text}, 22, "no process can catch SIGKILL"},
		{[]string{"cr_restart", text}, 22, "not a stasis image"},
		{[]string{"cr_info", text}, 1, "not a stasis image"},
		{[]string{"cr_checkpoint", "1"}, 1, "pid 1 is an ancestor of cr_checkpoint"},
	} {
		argv := append([]string{bin(t, c.argv[0])}, c.argv[1:]...)
		r := hh.run(wait30, argv...)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("want exit %d and %q:\n%s", c.code, c.msg, r)
		}
	}
	for _, cmd := range []string{"cr_run", "cr_checkpoint", "cr_restart", "cr_info"} {
		r := hh.run(wait30, bin(t, cmd), "-?")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: "+cmd) {
			t.Errorf("%s -? is not help:\n%s", cmd, r)
		}
	}
	r := hh.run(wait30, bin(t, "cr_checkpoint"), "--help")
	if !strings.Contains(r.stdout, "(0, the default: no limit)") {
		t.Errorf("cr_checkpoint --help does not say what -t 0 means:\n%s", r)
	}
	// The shell that runs cr_checkpoint is its parent: not "pid N (cr_checkpoint)".
	r = hh.run(wait30, "bash", "-c", bin(t, "cr_checkpoint")+` $$; echo "shell $$"`)
	shell := strings.TrimPrefix(strings.TrimSpace(r.stdout), "shell ")
	if _, err := strconv.Atoi(shell); err != nil || !strings.Contains(r.stderr, "pid "+shell+" is an ancestor of cr_checkpoint") {
		t.Errorf("cr_checkpoint $$ does not name the shell as its ancestor:\n%s", r)
	}
}
