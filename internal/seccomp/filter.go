package seccomp

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Object is a kind of kernel object that an image cannot hold.
type Object struct {
	Nr   uint32 // the system call that creates it (x86-64)
	Name string // what the user is told: "io_uring instance"
	// Marks are substrings of /proc/PID/fd links and /proc/PID/maps paths
	// that show a process still holds such an object.
	Marks []string
}

// Objects are the creators the filter watches. socket is watched for every
// family but AF_UNIX.
var Objects = []Object{
	{unix.SYS_IO_URING_SETUP, "io_uring instance", []string{"io_uring"}},
	{unix.SYS_PERF_EVENT_OPEN, "perf event", []string{"[perf_event]"}},
	{unix.SYS_BPF, "bpf object", []string{"anon_inode:bpf"}},
	{unix.SYS_USERFAULTFD, "userfaultfd", []string{"[userfaultfd]"}},
	{unix.SYS_FANOTIFY_INIT, "fanotify group", []string{"[fanotify]"}},
	{unix.SYS_MEMFD_SECRET, "secret memory area", []string{"secretmem"}},
	{unix.SYS_SOCKET, "socket", []string{"socket:["}},
}

// ObjectOf names what system call nr creates (nil: not watched).
func ObjectOf(nr uint32) *Object {
	for i := range Objects {
		if Objects[i].Nr == nr {
			return &Objects[i]
		}
	}
	return nil
}

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16 // low 32 bits on little-endian
)

const (
	bpfLd  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfRet = unix.BPF_RET | unix.BPF_K
)

// Program is the filter. Calls of other architectures (the i386 and x32
// entry points) pass untouched. With deny, watched calls fail with ENOSYS;
// otherwise they wait for the listener to answer. Every other call gets
// ALLOW from the kernel's action cache without running the program, since
// its answer does not depend on the arguments.
func Program(deny bool) []unix.SockFilter {
	act := uint32(unix.SECCOMP_RET_USER_NOTIF)
	if deny {
		act = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	}
	// Layout, n = len(Objects):
	//   0 ld arch; 1 not x86-64? allow; 2 ld nr; 3 x32 call? allow;
	//   4..4+n-1 one test per object (socket jumps to its family test);
	//   4+n allow; 5+n act; 6+n ld family; 7+n AF_UNIX? 8+n: 9+n;
	//   8+n allow; 9+n act.
	n := len(Objects)
	allow, actAt, family := 4+n, 5+n, 6+n
	to := func(from, target int) uint8 { return uint8(target - from - 1) }
	prog := []unix.SockFilter{
		{Code: bpfLd, K: offArch},
		{Code: bpfJeq, Jf: to(1, allow), K: unix.AUDIT_ARCH_X86_64},
		{Code: bpfLd, K: offNr},
		{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, Jt: to(3, allow), K: 0x40000000},
	}
	for _, o := range Objects {
		target := actAt
		if o.Nr == unix.SYS_SOCKET {
			target = family
		}
		prog = append(prog, unix.SockFilter{Code: bpfJeq, Jt: to(len(prog), target), K: o.Nr})
	}
	return append(prog,
		unix.SockFilter{Code: bpfRet, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: bpfRet, K: act},
		unix.SockFilter{Code: bpfLd, K: offArg0},
		unix.SockFilter{Code: bpfJeq, Jf: 1, K: unix.AF_UNIX},
		unix.SockFilter{Code: bpfRet, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: bpfRet, K: act},
	)
}

// Encode lays prog out as the kernel reads an array of struct sock_filter,
// for writing into another process's memory.
func Encode(prog []unix.SockFilter) []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, f := range prog {
		b = binary.LittleEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.LittleEndian.AppendUint32(b, f.K)
	}
	return b
}

// Flags for installing the filter: with a listener unless deny; on every
// thread (TSYNC_ESRCH lets TSYNC go with NEW_LISTENER); and SPEC_ALLOW, so
// that on a kernel whose speculation mitigations follow seccomp the filter
// does not also switch them on for the job.
func Flags(deny bool) uintptr {
	f := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW)
	if !deny {
		f |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	return f
}
