package sockdiag

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestSocketPair(t *testing.T) {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	unix.Shutdown(sp[0], unix.SHUT_WR)
	var st [2]unix.Stat_t
	for i := range sp {
		if err := unix.Fstat(sp[i], &st[i]); err != nil {
			t.Fatal(err)
		}
	}
	all, err := UnixSockets()
	if err != nil {
		t.Fatal(err)
	}
	a, b := all[st[0].Ino], all[st[1].Ino]
	if a == nil || b == nil {
		t.Fatalf("our pair (%d, %d) is missing from %d sockets", st[0].Ino, st[1].Ino, len(all))
	}
	if a.Peer != b.Ino || b.Peer != a.Ino || a.Type != unix.SOCK_SEQPACKET || a.State != StateConnected {
		t.Fatalf("pair: %+v %+v", a, b)
	}
	if a.Shutdown&2 == 0 || b.Shutdown&1 == 0 {
		t.Fatalf("shutdown not seen: %+v %+v", a, b)
	}
}
