package restart

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// ChangedFiles says what a regular file that the image holds open, and
// that changed since the checkpoint, does to a restart. A --run image is
// a point in time: the job went on writing its files after it, and a
// process restored from it carries on from its saved offsets, with
// memory that may describe contents no longer there.
type ChangedFiles int

const (
	// ChangedRefuseRW (the default) refuses the restart if a file the
	// process holds open for reading and writing changed (a database, an
	// index it seeks in and reads back), and warns, naming them, of the
	// others (logs, output it only writes or appends to; standard output
	// and error, however opened).
	ChangedRefuseRW ChangedFiles = iota
	// ChangedRefuse refuses the restart if any of them changed.
	ChangedRefuse
	// ChangedWarn warns of every one that changed and goes on.
	ChangedWarn
)

// checkChanged compares the regular files p holds open with their state
// at checkpoint, refusing or warning as changed says. A file that is gone
// is someone else's concern (it is made again, or the restart fails).
func checkChanged(p *image.Process, changed ChangedFiles) error {
	var refused, warned []string
	for _, f := range p.Fds {
		if f.Kind != image.FdFile || f.State == nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(f.Path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		how := howChanged(f, &st)
		if how == "" {
			continue
		}
		// Standard output and error are output, and an appending
		// writer does not seek in what it wrote, whatever the mode.
		rw := f.Flags&unix.O_ACCMODE == unix.O_RDWR && f.Num != 1 && f.Num != 2 && f.Flags&unix.O_APPEND == 0
		what := fmt.Sprintf("pid %d fd %d: %s changed since the checkpoint (%s)", p.Pid, f.Num, f.Path, how)
		switch {
		case rw && changed != ChangedWarn:
			refused = append(refused, what+": the process holds it open for reading and writing, so what it remembers of it may no longer be so")
		case changed == ChangedRefuse:
			refused = append(refused, what)
		case f.Flags&unix.O_APPEND != 0:
			warned = append(warned, what+"; the process opened it to append, so it writes on at its end")
		default:
			warned = append(warned, fmt.Sprintf("%s; the process carries on from offset %d", what, f.Pos))
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("%s; restart with --changed-files=warn to go on anyway", strings.Join(refused, "; "))
	}
	for _, w := range warned {
		fmt.Fprintf(os.Stderr, "cr_restart: warning: %s\n", w)
	}
	return nil
}

// howChanged says how the file st differs from f's state at checkpoint,
// or "" if it does not.
func howChanged(f image.Fd, st *unix.Stat_t) string {
	s := f.State
	switch {
	case st.Dev != s.Dev || st.Ino != s.Ino:
		return "another file at its path"
	case st.Size != f.Size:
		return fmt.Sprintf("size %d, then %d", f.Size, st.Size)
	case st.Mtim.Nano() != s.Mtime:
		return "modified " + time.Unix(0, st.Mtim.Nano()).Format(time.DateTime)
	case st.Ctim.Nano() != s.Ctime:
		return "its inode changed " + time.Unix(0, st.Ctim.Nano()).Format(time.DateTime)
	case s.Sum != "":
		if b, err := os.ReadFile(f.Path); err == nil && fmt.Sprintf("%x", sha256.Sum256(b)) != s.Sum {
			return "its contents differ, its times do not"
		}
	}
	return ""
}
