// Package blcr holds the parts of BLCR's command-line contract that are
// shared by stasis's commands: which of the mutually exclusive signal
// options was given last, and the option spellings kong cannot express.
package blcr

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

var signalFlags = map[string]unix.Signal{
	"--run": 0, "--stop": unix.SIGSTOP, "--freeze": unix.SIGSTOP, "--term": unix.SIGTERM,
	"--abort": unix.SIGABRT, "--kill": unix.SIGKILL, "--cont": unix.SIGCONT,
}

// valueOpts are the options of stasis's commands that take their value as
// the next argument (besides -S/--signal), so that a scan of the options
// does not stop at a value such as the FILE of "-f FILE".
var valueOpts = map[string]bool{
	"-f": true, "--file": true, "-d": true, "--dir": true, "-F": true, "--fd": true, "-t": true, "--time": true,
	"--checkpoint-signal": true, "--checkpoint-exit-signal": true, "--interval": true,
	"--checkpoint-file": true, "--checkpoint-dir": true, "--relocate": true,
	"--run-on-success": true, "--run-on-fail-args": true, "--run-on-fail-temp": true,
	"--run-on-fail-env": true, "--run-on-fail-perm": true, "--run-on-failure": true,
}

// LastSignal returns the signal chosen by the last of --run, --stop,
// --term, --abort, --kill, --cont and -S/--signal N among the options in
// args (BLCR: the last one wins). Scanning stops at "--" or at the first
// non-option, which starts the program's own arguments.
func LastSignal(args []string) (unix.Signal, error) {
	var sig unix.Signal
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		if valueOpts[a] {
			i++ // its value, which may look like anything
			continue
		}
		if s, ok := signalFlags[a]; ok {
			sig = s
			continue
		}
		var v string
		switch {
		case a == "-S" || a == "--signal":
			if i+1 >= len(args) {
				return 0, fmt.Errorf("%s needs a signal number", a)
			}
			i++
			v = args[i]
		case strings.HasPrefix(a, "--signal="):
			v = strings.TrimPrefix(a, "--signal=")
		case strings.HasPrefix(a, "-S") && !strings.HasPrefix(a, "--"):
			v = a[2:]
		default:
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %q", v)
		}
		sig = unix.Signal(n)
	}
	return sig, nil
}

// NormalizeArgs rewrites the BLCR spellings kong cannot parse: --backup
// takes an optional value, so a bare --backup becomes --backup= (numbered
// backups). Program arguments after "--" are left alone.
func NormalizeArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if a == "--backup" {
			a = "--backup="
		}
		out = append(out, a)
	}
	return out
}

// ParseSignal reads a signal given by number ("10"), by name ("SIGUSR1")
// or by name without its prefix ("usr1"). An empty string is no signal.
func ParseSignal(s string) (unix.Signal, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d: out of range", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("%q: not a signal name", s)
}

// Last returns the value of the last of opts given in args (BLCR: among
// mutually exclusive options the last one wins), or def. Scanning stops
// where LastSignal's does.
func Last(args []string, opts map[string]int, def int) int {
	v := def
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		if valueOpts[a] || a == "-S" || a == "--signal" {
			i++
			continue
		}
		if x, ok := opts[a]; ok {
			v = x
		}
	}
	return v
}
