package proc

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestTasksSelf(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tids, err := Tasks(os.Getpid())
	if err != nil || !slices.Contains(tids, os.Getpid()) || !slices.Contains(tids, unix.Gettid()) || !slices.IsSorted(tids) {
		t.Errorf("Tasks(self) = %v, %v", tids, err)
	}
}

func TestChildren(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(sleep, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	kids, err := Children(os.Getpid())
	if err != nil || !slices.Contains(kids, cmd.Process.Pid) || !slices.IsSorted(kids) {
		t.Errorf("Children(self) = %v, %v; want %d among them", kids, err, cmd.Process.Pid)
	}
	if kids, err := Children(cmd.Process.Pid); err != nil || len(kids) != 0 {
		t.Errorf("Children(sleep) = %v, %v", kids, err)
	}
}

func TestMiscSelf(t *testing.T) {
	pid := os.Getpid()
	auxv, err := ReadAuxv(pid)
	if err != nil || len(auxv) == 0 || len(auxv)%16 != 0 {
		t.Fatalf("ReadAuxv = %d bytes, %v", len(auxv), err)
	}
	var pagesz uint64
	for i := 0; i+16 <= len(auxv); i += 16 {
		if binary.NativeEndian.Uint64(auxv[i:]) == 6 { // AT_PAGESZ
			pagesz = binary.NativeEndian.Uint64(auxv[i+8:])
		}
	}
	if pagesz != uint64(os.Getpagesize()) {
		t.Errorf("auxv AT_PAGESZ = %d", pagesz)
	}
	want, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if e != 0 {
		t.Fatal(e)
	}
	if got, err := ReadPersonality(pid); err != nil || got != uint32(want) {
		t.Errorf("ReadPersonality = %#x, %v; want %#x", got, err, want)
	}
	wd, _ := os.Getwd()
	if got, err := Readlink(pid, "cwd"); err != nil || got != wd {
		t.Errorf("Readlink(cwd) = %q, %v; want %q", got, err, wd)
	}
	if got, err := Readlink(pid, "root"); err != nil || got != "/" {
		t.Errorf("Readlink(root) = %q, %v", got, err)
	}
	exe, _ := os.Executable()
	if got, err := Readlink(pid, "exe"); err != nil || got != exe {
		t.Errorf("Readlink(exe) = %q, %v; want %q", got, err, exe)
	}
}

// noSuchPid is above the largest pid_max (4194304).
const noSuchPid = 1 << 30

func TestMissingProcess(t *testing.T) {
	calls := map[string]func() error{
		"ReadMaps":        func() error { _, err := ReadMaps(noSuchPid); return err },
		"ReadSmapsFlags":  func() error { _, err := ReadSmapsFlags(noSuchPid); return err },
		"ReadStatus":      func() error { _, err := ReadStatus(noSuchPid); return err },
		"ReadTaskStatus":  func() error { _, err := ReadTaskStatus(noSuchPid, noSuchPid); return err },
		"ReadStat":        func() error { _, err := ReadStat(noSuchPid); return err },
		"ReadFdInfo":      func() error { _, err := ReadFdInfo(noSuchPid, 0); return err },
		"Fds":             func() error { _, err := Fds(noSuchPid); return err },
		"FdLink":          func() error { _, err := FdLink(noSuchPid, 0); return err },
		"OpenPagemap":     func() error { _, err := OpenPagemap(noSuchPid); return err },
		"ReadTimers":      func() error { _, err := ReadTimers(noSuchPid); return err },
		"Tasks":           func() error { _, err := Tasks(noSuchPid); return err },
		"Children":        func() error { _, err := Children(noSuchPid); return err },
		"ReadAuxv":        func() error { _, err := ReadAuxv(noSuchPid); return err },
		"ReadPersonality": func() error { _, err := ReadPersonality(noSuchPid); return err },
		"Readlink":        func() error { _, err := Readlink(noSuchPid, "cwd"); return err },
		"ReadComm":        func() error { _, err := ReadComm(noSuchPid, noSuchPid); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "pid 1073741824: /proc/1073741824/") ||
			strings.Count(err.Error(), "/proc/") != 1 {
			t.Errorf("%s: error %v, want ErrNotExist naming pid and file once", name, err)
		}
	}
	// A thread that is not in the process is missing too.
	if _, err := ReadTaskStatus(os.Getpid(), noSuchPid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadTaskStatus(self, bogus tid) error = %v", err)
	}
}

func TestParseErrorNamesFile(t *testing.T) {
	err := fileErr(42, path(42, "maps"), errors.New("line 3: bad inode \"x\""))
	if got := err.Error(); got != `pid 42: /proc/42/maps: line 3: bad inode "x"` {
		t.Errorf("error = %q", got)
	}
}
