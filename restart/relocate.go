package restart

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// Relocation moves the files of an image: a path under Old (Old itself, or
// Old followed by a slash) is used as the same path under New. Both are
// absolute, without trailing slashes.
type Relocation struct {
	Old, New string
}

// ParseRelocation reads BLCR's --relocate argument OLD=NEW: "\=" stands
// for a '=' in a path and "\\" for a backslash; exactly one '=' separates
// the paths; both must be absolute; trailing slashes are dropped. It
// returns ok false for an identity relocation, which changes nothing.
func ParseRelocation(arg string) (r Relocation, ok bool, err error) {
	var paths [2]strings.Builder
	side := 0
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		switch {
		case c == '\\' && i+1 < len(arg) && (arg[i+1] == '=' || arg[i+1] == '\\'):
			i++
			paths[side].WriteByte(arg[i])
		case c == '=' && side == 0:
			side = 1
		case c == '=':
			return r, false, fmt.Errorf("--relocate %q: more than one unescaped '=' (write \\= for a '=' in a path)", arg)
		default:
			paths[side].WriteByte(c)
		}
	}
	if side == 0 {
		return r, false, fmt.Errorf("--relocate %q: no unescaped '=' between OLD and NEW", arg)
	}
	r = Relocation{Old: trimSlashes(paths[0].String()), New: trimSlashes(paths[1].String())}
	if !strings.HasPrefix(r.Old, "/") || !strings.HasPrefix(r.New, "/") {
		return r, false, fmt.Errorf("--relocate %q: both paths must be absolute (begin with '/')", arg)
	}
	return r, r.Old != r.New, nil
}

// trimSlashes drops trailing slashes, keeping a lone "/".
func trimSlashes(p string) string {
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	return p
}

// apply returns path moved by the first relocation whose Old is a whole
// leading part of it, and whether one matched.
func apply(rs []Relocation, path string) (string, bool) {
	for _, r := range rs {
		rest, found := strings.CutPrefix(path, r.Old)
		if !found {
			continue
		}
		switch {
		case rest == "":
			return r.New, true
		case r.Old == "/":
			return strings.TrimSuffix(r.New, "/") + "/" + rest, true
		case strings.HasPrefix(rest, "/"):
			return r.New + rest, true
		}
	}
	return path, false
}

// relocate rewrites every path of p that the relocations move: its
// executable, working directory, mapped files, files open on fds and
// FIFOs.
func relocate(p *image.Process, rs []Relocation) {
	if len(rs) == 0 {
		return
	}
	move := func(s *string) {
		if *s != "" {
			*s, _ = apply(rs, *s)
		}
	}
	movePath := func(s *string) { // a unix socket's name: a path, or "@" and an abstract one
		if strings.HasPrefix(*s, "/") {
			move(s)
		}
	}
	move(&p.Exe)
	move(&p.Cwd)
	for i := range p.VMAs {
		if p.VMAs[i].Kind == image.VMAFile {
			move(&p.VMAs[i].Path)
		}
	}
	for i := range p.Files {
		if !p.Files[i].Saved {
			move(&p.Files[i].Path)
		}
	}
	for i := range p.Fds {
		f := &p.Fds[i]
		switch f.Kind {
		case image.FdFile, image.FdDevice:
			move(&f.Path)
		case image.FdPipe:
			if f.Pipe != nil {
				move(&f.Pipe.Path)
			}
		case image.FdListener:
			if l := f.Listener; l != nil && l.Family == unix.AF_UNIX {
				movePath(&l.Addr)
				for j := range l.From {
					movePath(&l.From[j])
				}
			}
		case image.FdSocket:
			if sk := f.Socket; sk != nil && sk.Connect != "" {
				movePath(&sk.Connect)
				movePath(&sk.Name)
			}
		case image.FdInotify:
			for j := range f.Inotify {
				move(&f.Inotify[j].Path)
			}
		}
	}
}
