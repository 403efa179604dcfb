package kernel

import (
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// PeekFrom walks a datagram queue with SO_PEEK_OFF, an empty datagram
// included, and gives each sender's name as the kernel keeps it: none,
// an abstract name with a 0 byte inside, a path.
func TestPeekFrom(t *testing.T) {
	sock := func(name string) int {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if name != "" {
			if err := unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err != nil {
				t.Fatal(err)
			}
		}
		return fd
	}
	dir := t.TempDir()
	srv := sock(filepath.Join(dir, "srv"))
	to := &unix.SockaddrUnix{Name: filepath.Join(dir, "srv")}
	sent := []struct{ from, msg string }{
		{"", "one"},
		{"\x00stasis-peek\x00x", ""},
		{filepath.Join(dir, "cli"), "three"},
	}
	for _, s := range sent {
		if err := unix.Sendto(sock(s.from), []byte(s.msg), 0, to); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.SetsockoptInt(srv, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for i, s := range sent {
		n, from, flags, err := PeekFrom(srv, buf)
		if err != nil || string(buf[:n]) != s.msg || from != s.from || flags != 0 {
			t.Fatalf("datagram %d: %q from %q, flags %#x, %v; want %q from %q", i+1, buf[:n], from, flags, err, s.msg, s.from)
		}
	}
	if _, _, _, err := PeekFrom(srv, buf); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("past the queue: %v, want EAGAIN", err)
	}
	if n, _, err := unix.Recvfrom(srv, buf, unix.MSG_DONTWAIT); err != nil || string(buf[:n]) != "one" {
		t.Fatalf("the queue after peeking: %q, %v", buf[:n], err)
	}
}
