package proc

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// statTail is the text after ") " of a real stat line (cat, Linux 6.18).
const statTail = "R 9920 9921 1912 34816 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 623468 3133440 363 " +
	"18446744073709551615 94639408287744 94639408307625 140730590612496 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 " +
	"94639408323632 94639408325248 94640153432064 140730590616055 140730590616075 140730590616075 140730590617579 0\n"

func TestParseStat(t *testing.T) {
	want := Stat{Pid: 9928, Comm: "cat", State: 'R', PPid: 9920, Pgrp: 9921, Session: 1912, TtyNr: 34816, Tpgid: -1,
		Flags: 4194304, NumThreads: 1, StartTime: 623468,
		StartCode: 94639408287744, EndCode: 94639408307625, StartStack: 140730590612496,
		StartData: 94639408323632, EndData: 94639408325248, StartBrk: 94640153432064,
		ArgStart: 140730590616055, ArgEnd: 140730590616075, EnvStart: 140730590616075, EnvEnd: 140730590617579,
		ExitSignal: 17}
	for _, comm := range []string{"cat", "(ugly )pr()cess(", "a b c", "new\nline) S 1 2 3", "", ")", "((", " "} {
		got, err := ParseStat([]byte("9928 (" + comm + ") " + statTail))
		w := want
		w.Comm = comm
		if err != nil || *got != w {
			t.Errorf("comm %q: ParseStat = %+v, %v", comm, got, err)
		}
	}
}

func TestParseStatErrors(t *testing.T) {
	fields := strings.Fields(statTail)
	for _, bad := range []string{
		"",
		"9928 cat " + statTail,
		"9928 (cat " + statTail,
		"9928 )cat( " + statTail,
		"x (cat) " + statTail,
		"9928 (cat) R 1 2 3\n",
		"9928 (cat) " + strings.Join(fields[:48], " "),
		"9928 (cat) RS" + statTail[1:],
		"9928 (cat) R x" + statTail[5:],
		"9928 (cat) " + strings.Replace(statTail, "4194304", "-1", 1),
		"9928 (cat) " + strings.Replace(statTail, " 17 ", " 1e ", 1),
	} {
		if s, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) = %+v, want an error", bad, s)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("9928 (cat) " + statTail))
	f.Add([]byte("1 ((ugly )pr()cess() " + statTail))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStat(data)
		if (err == nil) == (s == nil) {
			t.Fatalf("ParseStat = %v, %v: want exactly one", s, err)
		}
	})
}

func TestReadStatSelf(t *testing.T) {
	s, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	comm, err := ReadComm(os.Getpid(), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.Pid != os.Getpid() || s.PPid != os.Getppid() || s.Comm != comm || s.NumThreads < 2 ||
		s.Flags&PF_KTHREAD != 0 || s.StartCode >= s.EndCode || s.ArgStart >= s.ArgEnd ||
		s.EnvStart > s.EnvEnd || s.StartBrk == 0 || s.ExitSignal != int(unix.SIGCHLD) || s.Pgrp != unix.Getpgrp() {
		t.Errorf("ReadStat(self) = %+v (comm %q)", s, comm)
	}
}

func TestReadStatKthread(t *testing.T) {
	s, err := ReadStat(2)
	if err != nil || s.Comm != "kthreadd" {
		t.Skip("pid 2 is not kthreadd here")
	}
	st, err := ReadStatus(2)
	if err != nil {
		t.Fatal(err)
	}
	if s.Flags&PF_KTHREAD == 0 || !st.Kthread || st.Name != "kthreadd" {
		t.Errorf("kthreadd: stat flags %#x, status %+v", s.Flags, st)
	}
}

// TestHostileComm renames a thread with PR_SET_NAME and reads the name
// back from stat (raw), comm (raw) and status (escaped).
func TestHostileComm(t *testing.T) {
	const name = "a) b\nc\\n(d\t" // 13 bytes; the kernel keeps 15
	type result struct {
		stat   *Stat
		status *Status
		comm   string
		tid    int
		err    error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		var r result
		r.tid = unix.Gettid()
		defer func() { ch <- r }()
		b, _ := unix.BytePtrFromString(name)
		if r.err = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(b)), 0, 0, 0); r.err != nil {
			return
		}
		pid := os.Getpid()
		var data []byte
		if data, r.err = os.ReadFile(path(pid, "task/"+strconv.Itoa(r.tid)+"/stat")); r.err != nil {
			return
		}
		if r.stat, r.err = ParseStat(data); r.err != nil {
			return
		}
		if r.status, r.err = ReadTaskStatus(pid, r.tid); r.err != nil {
			return
		}
		r.comm, r.err = ReadComm(pid, r.tid)
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.stat.Comm != name || r.stat.Pid != r.tid || r.comm != name || r.status.Name != name || r.status.Pid != r.tid {
		t.Errorf("stat comm %q, comm %q, status name %q; want %q", r.stat.Comm, r.comm, r.status.Name, name)
	}
}
