package ptrace

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestStopDecoding(t *testing.T) {
	stop := func(sig unix.Signal, event int) Stop {
		return Stop{unix.WaitStatus(uint32(event)<<16 | uint32(sig)<<8 | 0x7f)}
	}
	for _, c := range []struct {
		s     Stop
		event int
		group bool
		sig   unix.Signal
	}{
		{stop(unix.SIGTRAP, unix.PTRACE_EVENT_STOP), unix.PTRACE_EVENT_STOP, false, 0},
		{stop(unix.SIGSTOP, unix.PTRACE_EVENT_STOP), unix.PTRACE_EVENT_STOP, true, 0}, // a seized group stop
		{stop(unix.SIGTSTP, unix.PTRACE_EVENT_STOP), unix.PTRACE_EVENT_STOP, true, 0},
		{stop(unix.SIGTRAP, unix.PTRACE_EVENT_CLONE), unix.PTRACE_EVENT_CLONE, false, 0},
		{stop(unix.SIGSTOP, 0), 0, false, unix.SIGSTOP}, // signal delivery
		{stop(unix.SIGTRAP|0x80, 0), 0, false, 0},       // syscall stop
	} {
		if c.s.Event() != c.event || c.s.GroupStop() != c.group || c.s.Signal() != c.sig {
			t.Errorf("%v: event %d group %v signal %v; want %d %v %v", c.s, c.s.Event(), c.s.GroupStop(), c.s.Signal(), c.event, c.group, c.sig)
		}
	}
}
