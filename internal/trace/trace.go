// Package trace prints where a command's time goes, when the environment
// asks for it: with STASIS_TRACE set (to anything but empty), Mark writes
// the time since the process's start of Go code and since the previous
// mark to standard error, and Count tallies events (remote system calls,
// ptrace stops) that each mark prints the growth of since the previous
// one, and Report in all. Unset, every function returns at
// once. It is a tool for whoever measures, not a log: nothing depends on
// what it prints.
package trace

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Env is the variable that turns tracing on.
const Env = "STASIS_TRACE"

var (
	on     = os.Getenv(Env) != ""
	start  = time.Now()
	mu     sync.Mutex
	last   = start
	counts = map[string]int{}
	marked = map[string]int{} // counts at the previous mark
)

// On reports whether tracing is on.
func On() bool { return on }

// Mark prints what has just been done, with the time since start and
// since the previous mark.
func Mark(format string, args ...any) {
	if !on {
		return
	}
	now := time.Now()
	mu.Lock()
	defer mu.Unlock()
	var since []string
	for _, k := range sorted(counts) {
		if d := counts[k] - marked[k]; d > 0 {
			since = append(since, fmt.Sprintf("%d %s", d, k))
		}
		marked[k] = counts[k]
	}
	extra := ""
	if len(since) > 0 {
		extra = " (" + strings.Join(since, ", ") + ")"
	}
	fmt.Fprintf(os.Stderr, "stasis trace: %8.3f ms  +%7.3f  %s%s\n", ms(now.Sub(start)), ms(now.Sub(last)), fmt.Sprintf(format, args...), extra)
	last = now
}

// Count adds n to the tally of what.
func Count(what string, n int) {
	if !on {
		return
	}
	mu.Lock()
	counts[what] += n
	mu.Unlock()
}

// Report prints the tallies, and forgets them.
func Report() {
	if !on {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range sorted(counts) {
		fmt.Fprintf(os.Stderr, "stasis trace: %d %s in all\n", counts[k], k)
	}
	clear(counts)
	clear(marked)
}

func sorted(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
