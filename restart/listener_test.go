package restart

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

func TestSockaddr(t *testing.T) {
	for _, c := range []struct {
		l    image.Listener
		want []byte // nil: unbound
		bad  bool
	}{
		{l: image.Listener{Family: unix.AF_INET, Addr: "127.0.0.1:8080"}, want: []byte{2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}},
		{l: image.Listener{Family: unix.AF_INET6, Addr: "[::1]:80"}, want: append(append([]byte{10, 0, 0, 80, 0, 0, 0, 0}, append(make([]byte, 15), 1)...), 0, 0, 0, 0)},
		{l: image.Listener{Family: unix.AF_UNIX, Addr: "@name"}, want: []byte{1, 0, 0, 'n', 'a', 'm', 'e'}},
		{l: image.Listener{Family: unix.AF_UNIX, Addr: "/s"}, want: []byte{1, 0, '/', 's', 0}},
		{l: image.Listener{Family: unix.AF_UNIX}},
		{l: image.Listener{Family: unix.AF_INET, Addr: "[::1]:80"}, bad: true},
		{l: image.Listener{Family: unix.AF_INET6, Addr: "127.0.0.1:80"}, bad: true},
		{l: image.Listener{Family: unix.AF_INET6, Addr: "[fe80::1%2]:80"}, bad: true},
		{l: image.Listener{Family: unix.AF_UNIX, Addr: "relative"}, bad: true},
		{l: image.Listener{Family: unix.AF_UNIX, Addr: "/" + string(make([]byte, 200))}, bad: true},
		{l: image.Listener{Family: unix.AF_PACKET, Addr: "x"}, bad: true},
		{l: image.Listener{Family: unix.AF_PACKET}, bad: true},
		{l: image.Listener{Family: unix.AF_NETLINK}},
		{l: image.Listener{Family: unix.AF_NETLINK, Addr: "4242:5"}, want: []byte{16, 0, 0, 0, 0x92, 0x10, 0, 0, 5, 0, 0, 0}},
		{l: image.Listener{Family: unix.AF_NETLINK, Addr: "4242"}, bad: true},
		{l: image.Listener{Family: unix.AF_NETLINK, Addr: "4242:5:1"}, bad: true},
		{l: image.Listener{Family: unix.AF_NETLINK, Addr: "-1:5"}, bad: true},
	} {
		got, err := sockaddr(&c.l)
		switch {
		case c.bad && err == nil:
			t.Errorf("%+v: %v, want an error", c.l, got)
		case !c.bad && (err != nil || !bytes.Equal(got, c.want)):
			t.Errorf("%+v: %v %v, want %v", c.l, got, err, c.want)
		}
	}
}
