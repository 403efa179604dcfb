package namespace

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Inside is what the inner cr_restart knows of the outside.
type Inside struct {
	// Pid is our pid outside, which names our control socket; Parent the
	// outer cr_restart's. Both name the whole job in requests.
	Pid, Parent int
	// Conns receives the connections made to the outer one's socket.
	Conns *os.File
	proc  *os.File // the outside /proc
}

// Enter is called first thing in cr_restart's main. In a cr_restart that
// Start did not make it does nothing and returns nil; in the inner one it
// mounts the /proc of the new pid namespace, keeping the outside one open
// to translate pids from outside.
func Enter() (*Inside, error) {
	v, ok := os.LookupEnv(envInit)
	if !ok {
		return nil, nil
	}
	if os.Getpid() != 1 {
		return nil, fmt.Errorf("%s is set, but this is not pid 1 of a pid namespace: run by cr_restart, not by hand", envInit)
	}
	var in Inside
	var stage, conns int
	if _, err := fmt.Sscanf(v, "%d %d %d", &stage, &in.Parent, &conns); err != nil {
		return nil, fmt.Errorf("%s=%q: %w", envInit, v, err)
	}
	if stage == 1 {
		// Our threads took the lowest pids of the namespace, which the
		// image may need: move the pids the kernel gives to the top of
		// the range and exec again, which ends those threads.
		if err := HighPids(); err != nil {
			return nil, err
		}
		os.Setenv(envInit, fmt.Sprintf("2 %d %d", in.Parent, conns))
		err := unix.Exec("/proc/self/exe", os.Args, os.Environ())
		return nil, fmt.Errorf("exec /proc/self/exe: %w", err)
	}
	os.Unsetenv(envInit) // not for the job
	in.Conns = os.NewFile(uintptr(conns), "relay")
	unix.CloseOnExec(conns)
	self, err := os.Readlink("/proc/self") // the outside /proc names us by our outside pid
	if err != nil {
		return nil, err
	}
	if in.Pid, err = strconv.Atoi(self); err != nil {
		return nil, fmt.Errorf("/proc/self is %q: %w", self, err)
	}
	if in.proc, err = os.Open("/proc"); err != nil {
		return nil, err
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return nil, fmt.Errorf("new mount namespace: make / a slave: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("mount the /proc of the new pid namespace: %w", err)
	}
	return &in, nil
}

// Messages from the inner cr_restart to the outer one: its listening
// control socket (with the fd), and how the job ended.
const (
	msgListener = 'L'
	msgStatus   = 'S'
)

// HandOver gives the outer cr_restart our listening control socket, on
// which it accepts: it sees the peers' credentials as they are outside,
// where our user namespace may show root as the overflow uid.
func (in *Inside) HandOver(ln *os.File) error {
	return unix.Sendmsg(int(in.Conns.Fd()), []byte{msgListener}, unix.UnixRights(int(ln.Fd())), nil, 0)
}

// Report tells the outer cr_restart how the job ended, so that it ends
// the same way: we cannot, pid 1 of a pid namespace being immune to its
// own signals.
func (in *Inside) Report(ws unix.WaitStatus) {
	b := make([]byte, 5)
	b[0] = msgStatus
	binary.LittleEndian.PutUint32(b[1:], uint32(ws))
	unix.Write(int(in.Conns.Fd()), b)
}

// HighPids makes the next pids the kernel gives in our pid namespace come
// from the top of its range, away from the pids an image holds (those of
// the machine it was taken on, mostly far lower), for the processes and
// threads of cr_restart itself: the restorer stubs, the Go runtime's
// threads. It needs CAP_CHECKPOINT_RESTORE over the pid namespace.
func HighPids() error {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return err
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("/proc/sys/kernel/pid_max: %w", err)
	}
	if max <= 1024 {
		return nil
	}
	if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(max-256)), 0); err != nil {
		return fmt.Errorf("new pid namespace: ns_last_pid: %w", err)
	}
	return nil
}

// Translate turns a pid as seen outside into the same process's pid in
// our pid namespace; 0 and the pids that name the whole job give 0.
func (in *Inside) Translate(pid int) (int, error) {
	if pid == 0 || pid == in.Pid || pid == in.Parent {
		return 0, nil
	}
	notOurs := fmt.Errorf("pid %d is not part of the job of agent pid %d", pid, in.Pid)
	theirs, err1 := in.readlink(fmt.Sprintf("%d/ns/pid", pid))
	ours, err2 := os.Readlink("/proc/self/ns/pid")
	if err1 != nil || err2 != nil || theirs != ours {
		return 0, notOurs
	}
	fd, err := unix.Openat(int(in.proc.Fd()), fmt.Sprintf("%d/status", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, notOurs
	}
	f := os.NewFile(uintptr(fd), "status")
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("NSpid:")); ok {
			cols := strings.Fields(string(rest))
			if len(cols) < 2 {
				return 0, notOurs
			}
			return strconv.Atoi(cols[len(cols)-1]) // ours is the innermost
		}
	}
	return 0, fmt.Errorf("pid %d: no NSpid in its status", pid)
}

func (in *Inside) readlink(name string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Readlinkat(int(in.proc.Fd()), name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
