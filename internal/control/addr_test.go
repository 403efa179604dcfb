package control

import (
	"errors"
	"os"
	"regexp"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListenDial: two sockets for one pid get different unguessable names,
// and Dial reaches the agent through them, checking it is us.
func TestListenDial(t *testing.T) {
	a, err := Listen(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Listen(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	re := regexp.MustCompile(`^@stasis-agent-[0-9]+-[0-9a-f]{32}$`)
	na, nb := a.Addr().String(), b.Addr().String()
	if na == nb || !re.MatchString(na) || !re.MatchString(nb) {
		t.Fatalf("names %q and %q: want distinct, with 32 random hex digits", na, nb)
	}
	go func() {
		for {
			c, err := a.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	c, err := Dial(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if int(c.Peer.Pid) != os.Getpid() {
		t.Fatalf("peer pid %d, want ours (%d)", c.Peer.Pid, os.Getpid())
	}
	c.Close()
	// Our pid's names are not another pid's.
	if _, err := Dial(os.Getppid()); !errors.Is(err, ErrNoAgent) {
		t.Fatalf("Dial(our parent): %v, want ErrNoAgent", err)
	}
}

// TestTrust: a listener whose SO_PEERCRED does not name the agent, or
// names it with another uid, is refused.
func TestTrust(t *testing.T) {
	me := os.Getpid()
	for _, tc := range []struct {
		pid, uid int
		ok       bool
	}{{me, os.Geteuid(), true}, {me + 1, os.Geteuid(), false}, {me, os.Geteuid() + 1, false}} {
		err := trust("@x", ucred(tc.pid, tc.uid), me)
		var sq *SquatterError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &sq)) {
			t.Errorf("pid %d uid %d: %v", tc.pid, tc.uid, err)
		}
	}
}

func ucred(pid, uid int) unix.Ucred { return unix.Ucred{Pid: int32(pid), Uid: uint32(uid)} }
