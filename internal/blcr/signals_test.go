package blcr

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestLastSignal(t *testing.T) {
	for _, c := range []struct {
		args []string
		want unix.Signal
	}{
		{nil, 0},
		{[]string{"--kill", "-f", "x", "12"}, unix.SIGKILL},
		{[]string{"--kill", "--run", "12"}, 0},
		{[]string{"--stop", "-S", "10", "12"}, unix.SIGUSR1},
		{[]string{"-S10", "--term"}, unix.SIGTERM},
		{[]string{"--signal=2"}, unix.SIGINT},
		{[]string{"--freeze"}, unix.SIGSTOP},
		{[]string{"--cont", "prog", "--kill"}, unix.SIGCONT}, // --kill belongs to prog
		{[]string{"--", "--kill"}, 0},
		{[]string{"-f", "x.img", "--kill", "12"}, unix.SIGKILL}, // the value of -f is not where options end
		{[]string{"--checkpoint-file", "y", "--term", "x.img"}, unix.SIGTERM},
	} {
		got, err := LastSignal(c.args)
		if err != nil || got != c.want {
			t.Errorf("LastSignal(%q) = %v, %v; want %v", c.args, got, err, c.want)
		}
	}
	for _, bad := range [][]string{{"-S"}, {"-S", "x"}, {"--signal=0"}, {"-S", "65"}} {
		if _, err := LastSignal(bad); err == nil {
			t.Errorf("LastSignal(%q) succeeded", bad)
		}
	}
}

func TestNormalizeArgs(t *testing.T) {
	got := NormalizeArgs([]string{"--backup", "-f", "x", "--backup=old", "--", "--backup"})
	want := []string{"--backup=", "-f", "x", "--backup=old", "--", "--backup"}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"": 0, "10": unix.SIGUSR1, "SIGUSR2": unix.SIGUSR2, "term": unix.SIGTERM, "Hup": unix.SIGHUP} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "65", "SIGNOPE", "-3"} {
		if _, err := ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) succeeded", in)
		}
	}
}

func TestLast(t *testing.T) {
	opts := map[string]int{"--a": 1, "--b": 2}
	for _, c := range []struct {
		args []string
		want int
	}{
		{nil, 9}, {[]string{"--a"}, 1}, {[]string{"--a", "-v", "--b"}, 2}, {[]string{"--b", "--a", "12", "--b"}, 1},
		{[]string{"-f", "img", "--b", "12"}, 2}, {[]string{"--a", "-S", "9", "--b", "7"}, 2},
	} {
		if got := Last(c.args, opts, 9); got != c.want {
			t.Errorf("Last(%q) = %d, want %d", c.args, got, c.want)
		}
	}
}
