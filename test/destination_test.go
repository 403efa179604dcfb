package e2e

// -f names something that is not an image (a device like /dev/null, a
// FIFO, a socket, a symbolic link to one): cr_checkpoint refuses it under
// every policy, leaves it exactly as it was, and the process runs on.

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// nobody returns the command prefix that runs a program as uid 65534 and
// a directory that uid 65534 may write in (removed by t.Cleanup).
func nobody(t *testing.T) ([]string, string) {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv is not installed (%v): cannot act as another user", err)
	}
	dir, err := os.MkdirTemp("", "stasis-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chown(dir, 65534, 65534)
	os.Chmod(filepath.Dir(progDir), 0o755) // the test programs, for uid 65534
	os.Chmod(progDir, 0o755)
	return []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}, dir
}

// notImages makes in dir a FIFO, a listening socket, a symbolic link to
// /dev/null and, where mknod is allowed, a device node that is /dev/null
// (1:3; the real one is not put at risk on a shared machine) and a link
// to it, all owned by uid. It returns each path with its Lstat.
func notImages(t *testing.T, dir string, uid int) map[string]os.FileInfo {
	t.Helper()
	fifo, sock, link := filepath.Join(dir, "fifo"), filepath.Join(dir, "sock"), filepath.Join(dir, "link-to-dev-null")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	paths := []string{fifo, sock, link}
	null := filepath.Join(dir, "null")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, 1<<8|3); err == nil {
		paths = append(paths, null, filepath.Join(dir, "link-to-null"))
		if err := os.Symlink(null, paths[len(paths)-1]); err != nil {
			t.Fatal(err)
		}
	} else if os.Geteuid() == 0 {
		t.Logf("mknod as root: %v (no device node tested but the link to /dev/null)", err)
	}
	got := map[string]os.FileInfo{}
	for _, p := range paths {
		os.Lchown(p, uid, uid)
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		got[p] = st
	}
	return got
}

func TestCheckpointOntoNotAnImage(t *testing.T) {
	counter := prog(t, "counter")
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			needEngine(t)
			hh := newH(t)
			var as []string
			dir, uid := hh.dir, 0
			if user == "nobody" {
				as, dir = nobody(t)
				uid = 65534
			}
			things := notImages(t, dir, uid)
			out := hh.path("out.txt")
			seq := seqSpec{tickLine, 1}
			p := hh.startProg("counter", append(as[:len(as):len(as)], counter), out)
			hh.waitSeq(out, seq, 3, wait30, p)
			for path, was := range things {
				for _, policy := range []string{"--atomic", "--clobber", "--backup", "--backup=" + path} {
					dest := path
					if strings.HasPrefix(policy, "--backup=") {
						dest = filepath.Join(dir, "img")
					}
					argv := append(as[:len(as):len(as)], bin(t, "cr_checkpoint"), policy, "-f", dest, strconv.Itoa(p.pid))
					r := hh.run(wait30, argv...)
					if policy == "--backup="+path && r.code == 0 {
						// Not refused yet: the second would back the first up over path.
						r = hh.run(wait30, argv...)
					}
					if r.code == 0 || !strings.Contains(r.stderr, "not a regular file") {
						t.Fatalf("cr_checkpoint %s -f %s (%v): want a refusal naming it not a regular file\n%s", policy, dest, was.Mode().Type(), r)
					}
					now, err := os.Lstat(path)
					if err != nil || now.Mode() != was.Mode() || now.Sys().(*syscall.Stat_t).Rdev != was.Sys().(*syscall.Stat_t).Rdev ||
						now.Sys().(*syscall.Stat_t).Ino != was.Sys().(*syscall.Stat_t).Ino {
						t.Fatalf("cr_checkpoint %s -f %s changed it: was %v, now %v (%v)", policy, dest, was.Mode(), now, err)
					}
					os.Remove(filepath.Join(dir, "img"))
				}
			}
			if st, err := os.Stat("/dev/null"); err != nil || st.Mode()&os.ModeCharDevice == 0 {
				t.Fatalf("/dev/null is no longer a device: %v %v", st, err)
			}
			hh.waitSeq(out, seq, hh.lastSeq(out, seq)+3, wait30, p)
		})
	}
}
