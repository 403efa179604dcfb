package restart

import (
	"slices"
	"testing"

	"stasis/internal/image"
)

// A chain a -> b -> c -> /dev/log is connected from its start, since
// the kernel lets nobody connect to a datagram socket connected to
// another; a pair connected both ways, and the rest, as they come.
func TestConnectOrder(t *testing.T) {
	end := func(name, to string) dgramEnd { return dgramEnd{sk: &image.Socket{Name: name, Connect: to}} }
	ends := []dgramEnd{end("@c", "/dev/log"), end("@b", "@c"), end("", "@x"), end("@a", "@b"), end("@p", "@q"), end("@q", "@p")}
	var got []string
	for _, d := range connectOrder(ends) {
		got = append(got, d.sk.Name+">"+d.sk.Connect)
	}
	want := []string{">@x", "@a>@b", "@p>@q", "@q>@p", "@b>@c", "@c>/dev/log"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
}
