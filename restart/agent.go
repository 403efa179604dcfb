package restart

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/kernel"
	"stasis/internal/seccomp"
)

// Restored is a process rebuilt from an image, with what its new agent
// takes over from it.
type Restored struct {
	// Pids are the processes that are our children (those whose parent
	// the image lacks), the image's first process first.
	Pids []int
	// Seccomp is the agent's filter, installed again (nil: none);
	// Listeners are its notification fds, one per process, unless the
	// filter denies on its own.
	Seccomp   *image.Seccomp
	Listeners []*os.File
	// AgentConns are our ends of libcr's connections, rebuilt at the
	// same fd numbers in their processes.
	AgentConns []AgentConn
	// Notes say what could not be restored as it was, where the
	// processes run on all the same.
	Notes []string
	// Images are the image files the processes map their memory from
	// (a lazy restart), for the agent's later checkpoints to recognise
	// once they are replaced.
	Images []image.FileID
	// Parent is the parent pid the image records for its first process:
	// for a job checkpointed under an agent, the pid the job was known
	// by (that agent's, or the one it answered for).
	Parent int
}

// AgentConn is one libcr connection of a restored process.
type AgentConn struct {
	Pid  int
	Fd   int      // its number in the process
	File *os.File // our end
}

// Close closes the files Restored holds.
func (r *Restored) Close() {
	for _, l := range r.Listeners {
		l.Close()
	}
	for _, c := range r.AgentConns {
		c.File.Close()
	}
}

// grab takes a duplicate of the process's fd and closes it there.
func (b *builder) grab(fd uint64, name string) (*os.File, error) {
	f, err := kernel.TakeFd(b.pid, int(fd), name)
	if err != nil {
		return nil, err
	}
	b.call(unix.SYS_CLOSE, fd)
	return f, nil
}

// agentConn rebuilds libcr's connection at f.Num as one end of a new
// socket pair whose other end the new agent keeps.
//
// Precondition: called on the owner thread.
func (b *builder) agentConn(f *image.Fd) error {
	typ := uint64(unix.SOCK_STREAM | unix.SOCK_CLOEXEC)
	if _, err := b.call(unix.SYS_SOCKETPAIR, unix.AF_UNIX, typ, 0, b.scratch); err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	v := make([]byte, 8)
	if err := b.mem.ReadAt(v, b.scratch); err != nil {
		return err
	}
	theirs, ours := uint64(binary.LittleEndian.Uint32(v)), uint64(binary.LittleEndian.Uint32(v[4:]))
	// Ours leaves first: its number may be the one theirs goes to.
	file, err := b.grab(ours, fmt.Sprintf("pid %d agent connection", b.pid))
	if err != nil {
		return err
	}
	if theirs != uint64(f.Num) {
		if _, err := b.call(unix.SYS_DUP3, theirs, uint64(f.Num), uint64(f.Flags&unix.O_CLOEXEC)); err != nil {
			file.Close()
			return fmt.Errorf("dup3: %w", err)
		}
		b.call(unix.SYS_CLOSE, theirs)
	} else if f.Flags&unix.O_CLOEXEC == 0 {
		b.call(unix.SYS_FCNTL, theirs, unix.F_SETFD, 0)
	}
	if f.Flags&unix.O_NONBLOCK != 0 {
		if _, err := b.call(unix.SYS_FCNTL, uint64(f.Num), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
			file.Close()
			return fmt.Errorf("fcntl(F_SETFL): %w", err)
		}
	}
	b.out.AgentConns = append(b.out.AgentConns, AgentConn{Pid: b.pid, Fd: f.Num, File: file})
	return nil
}

// confine sets no_new_privs and installs the agent's filter on every
// thread, as the shim did when the job started. It comes after the
// credentials, so the filter never sees the restorer's own calls.
//
// Precondition: called on the owner thread.
func (b *builder) confine() error {
	if b.p.NoNewPrivs {
		b.later("prctl(PR_SET_NO_NEW_PRIVS)", unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	}
	s := b.p.Seccomp
	if s == nil {
		return nil // run before the restorer's unmapping, which flushes
	}
	prog := seccomp.Program(s.Deny)
	fprog := make([]byte, 16)
	binary.LittleEndian.PutUint16(fprog, uint16(len(prog)))
	binary.LittleEndian.PutUint64(fprog[8:], b.scratch+16)
	if err := b.mem.WriteAt(append(fprog, seccomp.Encode(prog)...), b.scratch); err != nil {
		return err
	}
	fd, err := b.call(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uint64(seccomp.Flags(s.Deny)), b.scratch)
	if err != nil {
		return fmt.Errorf("pid %d: seccomp(SECCOMP_SET_MODE_FILTER): %w", b.pid, err)
	}
	b.out.Seccomp = s
	if s.Deny {
		return nil
	}
	l, err := b.grab(fd, fmt.Sprintf("pid %d seccomp listener", b.pid))
	if err == nil {
		b.out.Listeners = append(b.out.Listeners, l)
	}
	return err
}
