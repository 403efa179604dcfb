package seccomp

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMain turns the test binary into a filtered child when asked: it
// installs the deny filter and reports what each call returned.
func TestMain(m *testing.M) {
	if os.Getenv("STASIS_SECCOMP_CHILD") == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

func child() int {
	if _, err := Install(true); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 2
	}
	fail := 0
	check := func(what string, err, want error) {
		if !errors.Is(err, want) {
			os.Stderr.WriteString(what + ": got " + errString(err) + ", want " + errString(want) + "\n")
			fail = 1
		}
	}
	_, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, 0, 0)
	check("io_uring_setup", errnoErr(e), unix.ENOSYS)
	_, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	check("socket(AF_INET)", err, unix.ENOSYS)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	check("socket(AF_UNIX)", err, nil)
	unix.Close(fd)
	_, err = unix.Getcwd(make([]byte, 4096))
	check("getcwd", err, nil)
	return fail
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func errString(err error) string {
	if err == nil {
		return "success"
	}
	return err.Error()
}

func TestDenyFilter(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STASIS_SECCOMP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("filtered child: %v\n%s", err, out)
	}
}

func TestProgramShape(t *testing.T) {
	for _, deny := range []bool{false, true} {
		p := Program(deny)
		if len(p) > 255 {
			t.Fatalf("program of %d instructions: jumps overflow", len(p))
		}
		for i, f := range p {
			if f.Code&0x07 == unix.BPF_JMP && (i+1+int(f.Jt) >= len(p) || i+1+int(f.Jf) >= len(p)) {
				t.Errorf("instruction %d jumps past the end", i)
			}
		}
		if len(Encode(p)) != 8*len(p) {
			t.Errorf("Encode: %d bytes for %d instructions", len(Encode(p)), len(p))
		}
	}
}
