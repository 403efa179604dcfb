package trace

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// ProfileEnv names the file that Profile writes a CPU profile to (with
// ".PID" added, since one command may run as several processes).
const ProfileEnv = "STASIS_CPUPROFILE"

// Profile starts a Go CPU profile of this process if the environment asks
// for one, and returns what ends it and writes the file (which does
// nothing if none was started). Like the rest of this package it is a tool
// for whoever measures: a profile that cannot be started is said on
// standard error and nothing else changes.
func Profile() (stop func()) {
	path := os.Getenv(ProfileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "stasis trace: %s: %v\n", ProfileEnv, err)
		if f != nil {
			f.Close()
		}
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
