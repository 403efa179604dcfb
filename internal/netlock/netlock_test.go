package netlock

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair is a TCP connection on loopback: a is the end a lock would guard,
// b its peer.
func pair(t *testing.T, network, addr string) (a, b net.Conn) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err = net.Dial(network, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if a, err = l.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func connOf(a net.Conn) Conn {
	return Conn{Local: a.LocalAddr().(*net.TCPAddr).AddrPort(), Peer: a.RemoteAddr().(*net.TCPAddr).AddrPort()}
}

// arrives says whether what b sends reaches a within d.
func arrives(t *testing.T, a, b net.Conn, d time.Duration) bool {
	t.Helper()
	if _, err := b.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	a.SetReadDeadline(time.Now().Add(d))
	_, err := io.ReadFull(a, make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func tables(t *testing.T) map[string]bool {
	t.Helper()
	names, err := Tables()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	return have
}

// TestHoldKeepRelease: a held connection's peer gets nothing through
// (IPv4, IPv6 and IPv4-mapped addresses); closing the lock lets its
// retransmission through; a kept lock outlives the Lock and goes with
// Release, which may be repeated.
func TestHoldKeepRelease(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("netlock's tests need root (CAP_NET_ADMIN), as make test runs them")
	}
	for _, c := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}, {"tcp", "[::ffff:127.0.0.1]:0"}} {
		t.Run(c.addr, func(t *testing.T) {
			a, b := pair(t, c.network, c.addr)
			if !arrives(t, a, b, 5*time.Second) {
				t.Fatal("nothing arrives without a lock")
			}
			name := NewName()
			l, err := Hold(name, "/proc/self/ns/net", []Conn{connOf(a)})
			if err != nil {
				t.Fatal(err)
			}
			if arrives(t, a, b, 300*time.Millisecond) {
				t.Fatal("a held connection's peer got through")
			}
			if !arrives(t, b, a, 5*time.Second) {
				t.Fatal("the held end's own packets are dropped")
			}
			if err := l.Keep(); err != nil {
				t.Fatal(err)
			}
			if have := tables(t); !have[name] || have[name+"-hold"] {
				t.Fatalf("after Keep the tables are %v, want %s and not %s-hold", have, name, name)
			}
			if arrives(t, a, b, 300*time.Millisecond) {
				t.Fatal("a kept lock let the peer through")
			}
			if err := Release(name, "/proc/self/ns/net"); err != nil {
				t.Fatal(err)
			}
			if err := Release(name, "/proc/self/ns/net"); err != nil {
				t.Fatalf("a second Release: %v", err)
			}
			if tables(t)[name] {
				t.Fatalf("table %s is still there after Release", name)
			}
			// The peer retransmits what was dropped (after its
			// retransmission timeout, which has been backing off).
			a.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(a, make([]byte, 2)); err != nil {
				t.Fatalf("what was dropped did not come again: %v", err)
			}
		})
	}
}

// TestHoldGoesWithItsSocket: a lock that is closed, as one whose process
// died, leaves no table.
func TestHoldGoesWithItsSocket(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("netlock's tests need root (CAP_NET_ADMIN), as make test runs them")
	}
	a, _ := pair(t, "tcp4", "127.0.0.1:0")
	name := NewName()
	l, err := Hold(name, "/proc/self/ns/net", []Conn{connOf(a)})
	if err != nil {
		t.Fatal(err)
	}
	if !tables(t)[name+"-hold"] {
		t.Fatal("no table while held")
	}
	l.Close()
	if have := tables(t); have[name+"-hold"] || have[name] {
		t.Fatalf("tables left after Close: %v", have)
	}
}

func TestNames(t *testing.T) {
	if _, err := Hold("../../etc", "/proc/self/ns/net", nil); err == nil {
		t.Fatal("Hold took a name stasis does not give")
	}
	if err := Release("filter", "/proc/self/ns/net"); err == nil {
		t.Fatal("Release would remove a table stasis did not make")
	}
	if a, b := NewName(), NewName(); a == b || !validName.MatchString(a) {
		t.Fatalf("names %q %q", a, b)
	}
}
