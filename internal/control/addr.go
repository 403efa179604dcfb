package control

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"stasis/internal/sockdiag"
)

// An agent listens on an abstract unix socket named
//
//	@stasis-agent-PID-RANDOM
//
// PID being the agent's pid as its clients see it and RANDOM 128 random
// bits. The abstract namespace has no permissions: anyone may bind any
// free name. A name nobody can predict cannot be taken first, and two
// agents with the same pid (in two pid namespaces that share a network
// namespace, whose processes are invisible to each other) never collide.
// Clients find the names with a known prefix through the kernel's socket
// list (sock_diag) and trust one only when SO_PEERCRED shows the agent
// itself listening on it (dial).
const namePrefix = "stasis-agent-"

// prefix is how the names of the agent with pid pid begin.
func prefix(pid int) string { return prefix0(strconv.Itoa(pid)) }

// nsPrefix is how the names of an agent that is pid 1 of our pid
// namespace begin: the namespace's identity keeps it apart from every
// other pid 1 in the same network namespace.
func nsPrefix() (string, error) {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return "", err
	}
	ns = strings.TrimSuffix(strings.TrimPrefix(ns, "pid:["), "]")
	return prefix(1) + "ns" + ns + "-", nil
}

// Listen binds a new control socket for the agent that clients know as
// pid (the caller, or the caller as seen from outside its pid namespace).
func Listen(pid int) (*net.UnixListener, error) { return listen(prefix(pid)) }

// ListenNamespace binds the second control socket of an agent that is pid
// 1 of the pid namespace cr_restart made for its job: the job, which sees
// it as pid 1, finds it there.
func ListenNamespace() (*net.UnixListener, error) {
	p, err := nsPrefix()
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return listen(p)
}

// ListenFor binds the socket with which a restarted agent also answers
// for pid was, the pid its job was known by before: the pid of the agent
// that took the image, which a script kept as $!. Clients use it only
// while no process has pid was (Find).
func ListenFor(was int) (*net.UnixListener, error) { return listen(standInPrefix(was)) }

// standInPrefix is how the names of the agents answering for was begin.
func standInPrefix(was int) string { return namePrefix + "was-" + strconv.Itoa(was) + "-" }

func listen(p string) (*net.UnixListener, error) {
	var err error
	for try := 0; try < 3; try++ { // a clash of 128 random bits is someone replaying a name
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("control socket: random name: %w", err)
		}
		name := "@" + p + hex.EncodeToString(b)
		var ln *net.UnixListener
		if ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"}); err == nil {
			return ln, nil
		}
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err // "socket: permission denied", not the name again
		}
		err = fmt.Errorf("control socket %s: %w", name, err)
	}
	return nil, err
}

// ErrNoAgent: nobody listens at the address.
var ErrNoAgent = errors.New("no agent")

// names lists the listening sockets of our network namespace that are
// named like agents', by name prefix up to the pid.
type names map[string][]sock

// sock is one of them: its name and inode.
type sock struct {
	name string
	ino  uint64
}

// listNames asks the kernel for every listening socket with an agent's
// name.
func listNames() (names, error) {
	socks, err := sockdiag.UnixSockets()
	if err != nil {
		return nil, fmt.Errorf("find agents: %w", err)
	}
	out := names{}
	for _, s := range socks {
		rest, ok := strings.CutPrefix(s.Name, "\x00"+namePrefix)
		if s.State != sockdiag.StateListen || !ok {
			continue
		}
		if pid, _, ok := strings.Cut(rest, "-"); ok {
			p := prefix0(pid)
			out[p] = append(out[p], sock{"@" + namePrefix + rest, s.Ino})
		}
	}
	return out, nil
}

func prefix0(pid string) string { return namePrefix + pid + "-" }

// with returns the sockets whose names begin with p.
func (n names) with(p string) []sock {
	pid, _, _ := strings.Cut(strings.TrimPrefix(p, namePrefix), "-")
	var out []sock
	for _, s := range n[prefix0(pid)] {
		if strings.HasPrefix(s.name[1:], p) {
			out = append(out, s)
		}
	}
	return out
}
