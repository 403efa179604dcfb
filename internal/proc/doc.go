// Package proc reads and parses the /proc files that describe one process:
// maps and smaps, status, stat, fd and fdinfo, pagemap, timers, tasks,
// children, auxv, personality, comm and the magic links. It is strictly
// read-only: it never attaches with ptrace, never writes to /proc or to the
// process, and holds no policy. Each format has a pure ParseXxx function over
// the file's bytes, tested on literal and hostile inputs, and a ReadXxx that
// reads the file and calls it. Errors name the pid, the file and the reason;
// when the process (or the fd, or the task) does not exist the error wraps
// os.ErrNotExist.
package proc
