package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// describeMachine says what the figures were measured on, for the README:
// "Intel(R) Xeon(R) Processor, 2 CPUs, Linux 6.18.44". CPUs are logical
// CPUs (hardware threads), as /proc/cpuinfo lists them; if this process may
// use fewer, that is said too. What cannot be read is "unknown".
func describeMachine() string {
	model, cpus := cpuInfo()
	s := fmt.Sprintf("%s, %d CPUs", model, cpus)
	if n := runtime.NumCPU(); n < cpus {
		s += fmt.Sprintf(" (%d usable)", n)
	}
	release := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		release = strings.TrimSpace(string(b))
	}
	return s + ", Linux " + release
}

// cpuInfo returns the first "model name" of /proc/cpuinfo and the number of
// "processor" entries (runtime.NumCPU if there are none).
func cpuInfo() (model string, cpus int) {
	model = "unknown CPU"
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return model, runtime.NumCPU()
	}
	defer f.Close()
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "processor":
			cpus++
		case "model name":
			if !found {
				model, found = strings.TrimSpace(value), true
			}
		}
	}
	if cpus == 0 {
		cpus = runtime.NumCPU()
	}
	return model, cpus
}
