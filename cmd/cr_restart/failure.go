package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"stasis/internal/blcr"
	"stasis/internal/image"
	"stasis/restart"
)

// class is BLCR's classification of a failed restart, which chooses the
// --run-on-fail-* hook that runs.
type class int

const (
	classPerm class = iota // the rest: a damaged image, something stasis cannot rebuild
	classArgs              // bad options, or an image that cannot be opened
	classTemp              // may pass by itself: a pid in use, out of memory
	classEnv               // a person can fix it: missing or changed files, permissions
)

var hookOption = map[class]string{
	classPerm: "--run-on-fail-perm", classArgs: "--run-on-fail-args",
	classTemp: "--run-on-fail-temp", classEnv: "--run-on-fail-env",
}

// argsError marks a failure caused by the command line.
type argsError struct{ error }

func (e argsError) Unwrap() error { return e.error }

func badArgs(format string, a ...any) error { return argsError{fmt.Errorf(format, a...)} }

// classify sorts a failure into BLCR's classes.
func classify(err error) class {
	var args argsError
	var inUse *restart.PidInUseError
	var cpu *restart.CPUFeatureError
	switch {
	case errors.As(err, &args):
		return classArgs
	case errors.As(err, &inUse), errors.Is(err, unix.ENOMEM), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EBUSY):
		return classTemp
	case errors.Is(err, image.ErrNotImage), errors.Is(err, image.ErrCorrupt), errors.Is(err, image.ErrChecksum),
		errors.Is(err, image.ErrTruncated), errors.Is(err, image.ErrVersion), errors.Is(err, image.ErrArch):
		return classPerm
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM),
		errors.Is(err, unix.EEXIST), errors.Is(err, unix.EISDIR), errors.Is(err, unix.ENOTDIR),
		errors.Is(err, unix.ELOOP), errors.Is(err, restart.ErrFileChanged), errors.As(err, &cpu):
		return classEnv
	}
	return classPerm
}

// exitStatus is BLCR's: the errno behind the failure, else one typical of
// its class.
func exitStatus(err error, c class) int {
	var errno unix.Errno
	if errors.As(err, &errno) && errno > 0 && errno < 256 {
		return int(errno)
	}
	switch c {
	case classTemp:
		return int(unix.EBUSY)
	case classEnv:
		return int(unix.ENOENT)
	}
	return int(unix.EINVAL)
}

// fail ends cr_restart after a failed restart, as BLCR did: the hook of
// the failure's class runs first, and if it exits non-zero cr_restart
// exits with its status; otherwise the error is reported (unless -q) and
// cr_restart exits with exitStatus.
func fail(err error, quiet bool) {
	c := classify(err)
	if cmd, ok := blcr.LastValue(os.Args[1:], hookOption[c], "--run-on-failure"); ok {
		if st := runHook(cmd); st != 0 {
			os.Exit(st)
		}
	}
	if !quiet {
		msg := err.Error()
		if c == classEnv && errors.Is(err, fs.ErrNotExist) && restart.RelocateMayHelp(err) {
			msg += " (use --relocate?)"
		}
		fmt.Fprintln(os.Stderr, "cr_restart:", msg)
	}
	os.Exit(exitStatus(err, c))
}

// runHook runs cmd with sh -c, its output cr_restart's own, and returns
// its exit status (255 when it could not run or was killed).
func runHook(cmd string) int {
	if cmd == "" {
		return 0
	}
	h := exec.Command("/bin/sh", "-c", cmd)
	h.Stdin, h.Stdout, h.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := h.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "cr_restart: hook %q: %v\n", cmd, err)
	return 255
}
