package main

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kong"

	"stasis/restart"
)

// pidFlag is --restore-pid (the image's pids, in a new pid namespace if
// need be), --restore-pid=strict (the image's pids here, or fail) and
// --no-restore-pid (new pids).
type pidFlag restart.PidMode

func (f *pidFlag) Decode(ctx *kong.DecodeContext) error {
	if ctx.Scan.Peek().Type != kong.FlagValueToken {
		*f = pidFlag(restart.PidsRestore)
		return nil
	}
	tok := ctx.Scan.Pop()
	switch v := tok.Value.(type) {
	case bool: // --no-restore-pid arrives as false
		*f = pidFlag(restart.PidsRestore)
		if !v {
			*f = pidFlag(restart.PidsNew)
		}
		return nil
	case string:
		switch strings.ToLower(v) {
		case "strict":
			*f = pidFlag(restart.PidsStrict)
		case "", "yes", "true", "1":
			*f = pidFlag(restart.PidsRestore)
		case "no", "false", "0":
			*f = pidFlag(restart.PidsNew)
		default:
			return fmt.Errorf("--restore-pid=%s: want strict (or nothing)", v)
		}
		return nil
	}
	return fmt.Errorf("--restore-pid: unexpected value %v", tok.Value)
}

func (f *pidFlag) IsBool() bool { return true }
