package checkpoint

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
	"stasis/internal/proc"
)

// describeInotify completes f, fd n of pid, an inotify instance, with its
// watches, each by the path of the inode it watches. The kernel shows an
// inode and its file handle, not a path: with CAP_DAC_READ_SEARCH the
// handle opens the inode (open_by_handle_at), whose path /proc then
// shows; otherwise the path is looked for where the process is likely to
// have found it (see searchPlaces). A watch whose path is not found is
// refused, by its descriptor and inode.
func describeInotify(f image.Fd, pid, n int, watches []proc.InotifyWatch) (image.Fd, error) {
	f.Kind = image.FdInotify
	var places []string
	for _, w := range watches {
		path := byHandle(pid, w)
		if path == "" {
			if places == nil {
				places = searchPlaces(pid)
			}
			path = search(places, w)
		}
		if path == "" {
			return f, fmt.Errorf("pid %d fd %d: inotify watch %d (inode %d on device %d:%d): its path cannot be found (%s): not checkpointable",
				pid, n, w.Wd, w.Ino, w.Sdev>>20, w.Sdev&(1<<20-1), searchHint)
		}
		f.Inotify = append(f.Inotify, image.InotifyWatch{Wd: w.Wd, Path: path, Mask: w.Mask, Ino: w.Ino, Sdev: w.Sdev})
	}
	slices.SortFunc(f.Inotify, func(a, b image.InotifyWatch) int { return a.Wd - b.Wd })
	return f, nil
}

const searchHint = "as root it is found from its file handle; otherwise only in the process's working directory, " +
	"its arguments, its open files and executable, the directories above them and what those directories hold"

// watched reports whether path names the inode w watches itself (not
// through a symbolic link).
func watched(path string, w proc.InotifyWatch) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && st.Ino == w.Ino && st.Dev == unix.Mkdev(w.Sdev>>20, w.Sdev&(1<<20-1))
}

// byHandle returns the path of the inode w watches, opened by its file
// handle through a mount of its file system in pid's mount table; "" if
// it cannot be (no CAP_DAC_READ_SEARCH, no handle, no such mount, an
// inode no longer linked anywhere).
func byHandle(pid int, w proc.InotifyWatch) string {
	if w.HandleType < 0 {
		return ""
	}
	for _, mp := range mountsOf(pid, w.Sdev) {
		mfd, err := unix.Open(fmt.Sprintf("/proc/%d/root%s", pid, mp), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(int32(w.HandleType), w.Handle), unix.O_PATH|unix.O_CLOEXEC)
		unix.Close(mfd)
		if err != nil {
			return "" // EPERM: not privileged; ESTALE: gone
		}
		path, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		unix.Close(fd)
		if err == nil && watched(path, w) {
			return path
		}
	}
	return ""
}

// mountsOf returns the mount points, in pid's mount table, of the file
// system whose device is sdev (the kernel's encoding).
func mountsOf(pid int, sdev uint32) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return nil
	}
	dev := fmt.Sprintf("%d:%d", sdev>>20, sdev&(1<<20-1))
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// ID parent major:minor root mount-point options ...
		f := strings.Fields(sc.Text())
		if len(f) >= 5 && f[2] == dev {
			out = append(out, unescapeMount(f[4]))
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// searchPlaces returns where a watched path is looked for without the
// privilege to open a file handle: the process's working directory, its
// arguments (relative ones from the working directory), its executable
// and the paths of its open files, and every directory above them.
func searchPlaces(pid int) []string {
	cwd, _ := proc.Readlink(pid, "cwd")
	var paths []string
	if cwd != "" {
		paths = append(paths, cwd)
	}
	if exe, err := proc.Readlink(pid, "exe"); err == nil {
		paths = append(paths, exe)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		for _, arg := range strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")[1:] {
			switch {
			case filepath.IsAbs(arg):
				paths = append(paths, arg)
			case cwd != "" && arg != "":
				paths = append(paths, filepath.Join(cwd, arg))
			}
		}
	}
	if nums, err := proc.Fds(pid); err == nil {
		for _, n := range nums {
			if l, err := proc.FdLink(pid, n); err == nil && strings.HasPrefix(l, "/") {
				paths = append(paths, l)
			}
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		for p = filepath.Clean(p); !seen[p]; p = filepath.Dir(p) {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// dirEntriesMax bounds the entries of one directory that search looks at.
const dirEntriesMax = 10000

// search returns the first of places, or of the entries of a directory
// among them, that names the inode w watches; "" if none does.
func search(places []string, w proc.InotifyWatch) string {
	for _, p := range places {
		if watched(p, w) {
			return p
		}
	}
	for _, p := range places {
		d, err := os.Open(p)
		if err != nil {
			continue
		}
		names, _ := d.Readdirnames(dirEntriesMax)
		d.Close()
		for _, name := range names {
			if q := filepath.Join(p, name); watched(q, w) {
				return q
			}
		}
	}
	return ""
}
