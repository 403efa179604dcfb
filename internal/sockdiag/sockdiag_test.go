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

func TestListeners(t *testing.T) {
	tcp, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(tcp)
	if err := unix.Bind(tcp, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(tcp, 7); err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/sock"
	un, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(un)
	if err := unix.Bind(un, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(un, 5); err != nil {
		t.Fatal(err)
	}
	var st, file unix.Stat_t
	if err := unix.Fstat(tcp, &st); err != nil {
		t.Fatal(err)
	}
	ls, err := TCPListeners(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	if l := ls[st.Ino]; l == nil || l.Backlog != 7 || l.Waiting != 0 {
		t.Errorf("our TCP listener %d: %+v, want backlog 7", st.Ino, l)
	}
	if err := unix.Fstat(un, &st); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(path, &file); err != nil {
		t.Fatal(err)
	}
	all, err := UnixSockets()
	if err != nil {
		t.Fatal(err)
	}
	if u := all[st.Ino]; u == nil || u.State != StateListen || u.Wqueue != 5 || u.Name != path || u.VfsIno != file.Ino {
		t.Errorf("our unix listener %d: %+v, want backlog 5, name %s, file inode %d", st.Ino, u, path, file.Ino)
	}
}
