package proc

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const statusText = "Name:\t  a\\\\b\\nc: d \n" +
	"Umask:\t0027\nState:\tS (sleeping)\nTgid:\t9926\nNgid:\t0\nPid:\t9927\nPPid:\t9920\nTracerPid:\t0\n" +
	"Uid:\t0\t1\t2\t3\nGid:\t4\t5\t6\t7\nFDSize:\t256\nGroups:\t10 20 \nNStgid:\t9926\t1\nNSpid:\t9927\t2\n" +
	"NSpgid:\t9920\nNSsid:\t1912\nKthread:\t0\nVmPeak:\t    3060 kB\nThreads:\t3\nSigQ:\t0/96365\n" +
	"SigPnd:\t0000000000000000\nShdPnd:\t0000000000000100\nSigBlk:\t0000000000010000\nSigIgn:\t0000000000001000\n" +
	"SigCgt:\t0000000180004002\nCapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\n" +
	"CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000001\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n" +
	"Speculation_Store_Bypass:\tvulnerable\nCpus_allowed_list:\t0-1\nvoluntary_ctxt_switches:\t0\n"

func TestParseStatus(t *testing.T) {
	got, err := ParseStatus([]byte(statusText))
	if err != nil {
		t.Fatal(err)
	}
	want := &Status{Name: "  a\\b\nc: d ", Umask: 0o27, HasUmask: true, State: "S (sleeping)",
		Tgid: 9926, Pid: 9927, PPid: 9920, Uid: [4]int{0, 1, 2, 3}, Gid: [4]int{4, 5, 6, 7},
		Groups: []int{10, 20}, NStgid: []int{9926, 1}, NSpid: []int{9927, 2}, NSpgid: []int{9920}, NSsid: []int{1912}, Threads: 3, SigQ: "0/96365",
		ShdPnd: 0x100, SigBlk: 0x10000, SigIgn: 0x1000, SigCgt: 0x180004002,
		CapPrm: 0x1fffeffffff, CapEff: 0x1fffeffffff, CapBnd: 0x1ffffffffff, CapAmb: 1,
		NoNewPrivs: 1, Seccomp: 2, SeccompFilters: 1, HasKthread: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseStatus =\n%+v\nwant\n%+v", got, want)
	}
	got, err = ParseStatus([]byte("Name:\tk\nPid:\t2\nKthread:\t1\nGroups:\t \n"))
	if err != nil || !got.Kthread || !got.HasKthread || got.HasUmask || len(got.Groups) != 0 {
		t.Errorf("ParseStatus(kthread) = %+v, %v", got, err)
	}
}

func TestUnescapeName(t *testing.T) {
	for in, want := range map[string]string{
		`plain`: "plain", `a\nb`: "a\nb", `a\\nb`: `a\nb`, `\\\\`: `\\`, `x\`: `x\`, `\q`: `\q`, `\t\e`: "\t\x1b",
	} {
		if got := unescapeName(in); got != want {
			t.Errorf("unescapeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseStatusErrors(t *testing.T) {
	for _, bad := range []string{
		"",
		"Name:\tx\n",
		"Pid:\t1\n",
		"Name:\tx\nPid:\tone\n",
		"Name:\tx\nPid:\t1\nno colon here\n",
		"Name:\tx\nPid:\t1\nUid:\t0\t0\t0\n",
		"Name:\tx\nPid:\t1\nGid:\t0\t0\t0\tx\n",
		"Name:\tx\nPid:\t1\nUmask:\t0999\n",
		"Name:\tx\nPid:\t1\nSigBlk:\tzz\n",
		"Name:\tx\nPid:\t1\nCapEff:\t10000000000000000\n",
		"Name:\tx\nPid:\t1\nGroups:\t1 two\n",
		"Name:\tx\nPid:\t1\nKthread:\tyes\n",
	} {
		if s, err := ParseStatus([]byte(bad)); err == nil {
			t.Errorf("ParseStatus(%q) = %+v, want an error", bad, s)
		}
	}
}

func TestReadStatusSelf(t *testing.T) {
	pid := os.Getpid()
	s, err := ReadStatus(pid)
	if err != nil {
		t.Fatal(err)
	}
	comm, _ := ReadComm(pid, pid)
	old := unix.Umask(0o027)
	unix.Umask(old)
	if s.Pid != pid || s.Tgid != pid || s.PPid != os.Getppid() || s.Name != comm || s.Threads < 2 ||
		s.Uid[0] != os.Getuid() || s.Gid[0] != os.Getgid() || !s.HasUmask || s.Umask != uint32(old) ||
		s.Kthread || len(s.NSpid) == 0 || !strings.HasPrefix(s.State, "R") && !strings.HasPrefix(s.State, "S") {
		t.Errorf("ReadStatus(self) = %+v", s)
	}
	ts, err := ReadTaskStatus(pid, pid)
	if err != nil || ts.Pid != pid || ts.Tgid != pid {
		t.Errorf("ReadTaskStatus(self, self) = %+v, %v", ts, err)
	}
}
