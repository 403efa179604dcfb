package restart

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

func TestParseRelocation(t *testing.T) {
	good := []struct {
		arg      string
		old, new string
		ok       bool
	}{
		{"/data/run3=/scratch/run3", "/data/run3", "/scratch/run3", true},
		{"/data/run3///=/scratch/", "/data/run3", "/scratch", true},
		{`/a\=b=/c`, "/a=b", "/c", true},
		{`/a\\b=/c\d`, `/a\b`, `/c\d`, true},
		{"/same=/same/", "/same", "/same", false},
		{"/=/new", "/", "/new", true},
	}
	for _, g := range good {
		r, ok, err := ParseRelocation(g.arg)
		if err != nil || ok != g.ok || r.Old != g.old || r.New != g.new {
			t.Errorf("ParseRelocation(%q) = %+v, %v, %v; want {%s %s}, %v", g.arg, r, ok, err, g.old, g.new, g.ok)
		}
	}
	for _, bad := range []string{"/a", "/a=/b=/c", "a=/b", "/a=b", `/a\=/b`, "=/b"} {
		if _, _, err := ParseRelocation(bad); err == nil {
			t.Errorf("ParseRelocation(%q) accepted", bad)
		}
	}
}

func TestApplyRelocation(t *testing.T) {
	rs := []Relocation{{"/data/run3", "/scratch/r3"}, {"/data", "/other"}, {"/", "/root2"}}
	for in, want := range map[string]string{
		"/data/run3":         "/scratch/r3",
		"/data/run3/out.dat": "/scratch/r3/out.dat",
		"/data/run30/x":      "/other/run30/x", // not a whole component of the first
		"/data":              "/other",
		"/etc/passwd":        "/root2/etc/passwd",
	} {
		if got, _ := apply(rs, in); got != want {
			t.Errorf("apply(%q) = %q, want %q", in, got, want)
		}
	}
	if got, ok := apply(rs[:1], "/database/x"); ok || got != "/database/x" {
		t.Errorf("apply matched a partial component: %q", got)
	}

	p := &image.Process{Exe: "/data/run3/app", Cwd: "/data/run3",
		VMAs: []image.VMA{{Kind: image.VMAFile, Path: "/data/run3/app"}, {Kind: image.VMAAnon, Name: "[heap]"}},
		Fds: []image.Fd{{Kind: image.FdFile, Path: "/data/run3/out.dat"},
			{Kind: image.FdPipe, Pipe: &image.Pipe{Path: "/data/run3/fifo"}}, {Kind: image.FdStdio},
			{Kind: image.FdInotify, Inotify: []image.InotifyWatch{{Wd: 1, Path: "/data/run3/in"}}},
			{Kind: image.FdListener, Listener: &image.Listener{Family: unix.AF_UNIX, Addr: "/data/run3/srv", From: []string{"", "/data/run3/cli", "@data/run3/x"}}},
			{Kind: image.FdSocket, Socket: &image.Socket{Connect: "/data/run3/srv", Name: "/data/run3/cli"}}}}
	relocate(p, rs[:1])
	if p.Exe != "/scratch/r3/app" || p.Cwd != "/scratch/r3" || p.VMAs[0].Path != "/scratch/r3/app" ||
		p.Fds[0].Path != "/scratch/r3/out.dat" || p.Fds[1].Pipe.Path != "/scratch/r3/fifo" || p.Fds[3].Inotify[0].Path != "/scratch/r3/in" {
		t.Errorf("relocate left a path: %+v", p)
	}
	// Unix socket names that are paths move; abstract ones do not.
	l, sk := p.Fds[4].Listener, p.Fds[5].Socket
	if l.Addr != "/scratch/r3/srv" || !slices.Equal(l.From, []string{"", "/scratch/r3/cli", "@data/run3/x"}) ||
		sk.Connect != "/scratch/r3/srv" || sk.Name != "/scratch/r3/cli" {
		t.Errorf("relocate: a datagram server %+v, its client %+v", l, sk)
	}
}
