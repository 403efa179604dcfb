package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"stasis/agent"
	"stasis/namespace"
	"stasis/restart"
)

// needNamespace says whether the restart must go into new namespaces
// from the start: an ordinary user keeping the image's pids.
func needNamespace(c *cli, inside *namespace.Inside) bool {
	return inside == nil && restart.PidMode(c.RestorePid) == restart.PidsRestore && os.Geteuid() != 0
}

// pidMode is the restore's: inside namespaces made for the job, the
// image's pids or nothing.
func pidMode(c *cli, inside *namespace.Inside) restart.PidMode {
	if inside != nil {
		return restart.PidsStrict
	}
	return restart.PidMode(c.RestorePid)
}

// fallBack says whether a failed restart goes again into a new pid
// namespace: root, keeping the image's pids, found one in use.
func fallBack(c *cli, inside *namespace.Inside, err error) bool {
	var inUse *restart.PidInUseError
	if inside != nil || restart.PidMode(c.RestorePid) != restart.PidsRestore || !errors.As(err, &inUse) || inUse.Pid == 1 {
		return false // pid 1 is the namespace's own init there too
	}
	if c.Fd != nil {
		// The image must be read again, from its start.
		if _, err := unix.Seek(*c.Fd, 0, io.SeekStart); err != nil {
			if !c.Quiet {
				fmt.Fprintf(os.Stderr, "cr_restart: %v; the image from -F %d cannot be read again for a restart in a new pid namespace\n", inUse, *c.Fd)
			}
			return false
		}
	}
	if !c.Quiet {
		fmt.Fprintf(os.Stderr, "cr_restart: notice: %v: restarting in a new pid namespace (--restore-pid=strict fails instead)\n", inUse)
	}
	return true
}

// inNamespace runs the restart again in new namespaces and relays to it
// until it ends; it never returns.
func inNamespace(c *cli) {
	keep := inheritFds(c)
	if c.Fd != nil {
		keep = append(keep, *c.Fd)
	}
	o, err := namespace.Start(namespace.Spec{User: os.Geteuid() != 0, Keep: keep})
	if err != nil {
		fail(err, c.Quiet)
	}
	if o.NoSocket != nil && !c.Quiet {
		fmt.Fprintf(os.Stderr, "cr_restart: pid %d: %v: the job is reached only through its own agent's socket\n", os.Getpid(), o.NoSocket)
	}
	agent.Exit(o.Run(agent.CatchSignals()))
}
