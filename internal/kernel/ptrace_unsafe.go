package kernel

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

func ptrace(req, pid int, addr, data uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(pid), addr, data, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func syserr(name string, err error) error {
	if err == nil {
		return nil
	}
	return os.NewSyscallError(name, err)
}

// Seize attaches to tid with PTRACE_SEIZE and the given options, without
// stopping it.
func Seize(tid int, options int) error {
	return syserr("ptrace(PTRACE_SEIZE)", ptrace(unix.PTRACE_SEIZE, tid, 0, uintptr(options)))
}

// GetRegs reads the general registers of a stopped tracee.
func GetRegs(tid int) (unix.PtraceRegs, error) {
	var r unix.PtraceRegs
	err := ptrace(unix.PTRACE_GETREGS, tid, 0, uintptr(unsafe.Pointer(&r)))
	return r, syserr("ptrace(PTRACE_GETREGS)", err)
}

// SetRegs writes the general registers of a stopped tracee.
func SetRegs(tid int, r *unix.PtraceRegs) error {
	return syserr("ptrace(PTRACE_SETREGS)", ptrace(unix.PTRACE_SETREGS, tid, 0, uintptr(unsafe.Pointer(r))))
}

// GetRegSet reads register set nt (e.g. NT_X86_XSTATE) into buf and returns
// the number of bytes the kernel filled.
func GetRegSet(tid int, nt int, buf []byte) (int, error) {
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	err := ptrace(unix.PTRACE_GETREGSET, tid, uintptr(nt), uintptr(unsafe.Pointer(&iov)))
	return int(iov.Len), syserr("ptrace(PTRACE_GETREGSET)", err)
}

// SetRegSet writes register set nt from buf.
func SetRegSet(tid int, nt int, buf []byte) error {
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	return syserr("ptrace(PTRACE_SETREGSET)", ptrace(unix.PTRACE_SETREGSET, tid, uintptr(nt), uintptr(unsafe.Pointer(&iov))))
}

// GetSigmask reads a tracee's blocked-signal mask.
func GetSigmask(tid int) (uint64, error) {
	var m uint64
	err := ptrace(unix.PTRACE_GETSIGMASK, tid, 8, uintptr(unsafe.Pointer(&m)))
	return m, syserr("ptrace(PTRACE_GETSIGMASK)", err)
}

// SetSigmask sets a tracee's blocked-signal mask.
func SetSigmask(tid int, m uint64) error {
	return syserr("ptrace(PTRACE_SETSIGMASK)", ptrace(unix.PTRACE_SETSIGMASK, tid, 8, uintptr(unsafe.Pointer(&m))))
}

// SiginfoSize is the size of the kernel's siginfo_t.
const SiginfoSize = 128

type peekSiginfoArgs struct {
	Off   uint64
	Flags uint32
	Nr    int32
}

// PeekSiginfo returns the signals queued for tid without dequeuing them:
// the thread's private queue, or with shared the process-wide one.
func PeekSiginfo(tid int, shared bool) ([][SiginfoSize]byte, error) {
	var out [][SiginfoSize]byte
	var buf [32][SiginfoSize]byte
	args := peekSiginfoArgs{}
	if shared {
		args.Flags = 1 // PTRACE_PEEKSIGINFO_SHARED
	}
	for {
		args.Nr = int32(len(buf))
		n, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_PEEKSIGINFO, uintptr(tid),
			uintptr(unsafe.Pointer(&args)), uintptr(unsafe.Pointer(&buf[0])), 0, 0)
		if e != 0 {
			return nil, syserr("ptrace(PTRACE_PEEKSIGINFO)", e)
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
		args.Off += uint64(n)
	}
}

// RseqConfig is struct ptrace_rseq_configuration.
type RseqConfig struct {
	Addr  uint64
	Len   uint32
	Flags uint32
	Sig   uint32
	_     uint32
}

// GetRseq returns a tracee's rseq registration (Addr 0: none).
func GetRseq(tid int) (RseqConfig, error) {
	var c RseqConfig
	err := ptrace(unix.PTRACE_GET_RSEQ_CONFIGURATION, tid, unsafe.Sizeof(c), uintptr(unsafe.Pointer(&c)))
	return c, syserr("ptrace(PTRACE_GET_RSEQ_CONFIGURATION)", err)
}

// GetEventMsg returns the message of the last ptrace event (a new tid).
func GetEventMsg(tid int) (uint64, error) {
	var m uint64
	err := ptrace(unix.PTRACE_GETEVENTMSG, tid, 0, uintptr(unsafe.Pointer(&m)))
	return m, syserr("ptrace(PTRACE_GETEVENTMSG)", err)
}

// GetRobustList returns the robust futex list head and length of tid.
func GetRobustList(tid int) (head, length uint64, err error) {
	var h uintptr
	var l uintptr
	_, _, e := unix.Syscall(unix.SYS_GET_ROBUST_LIST, uintptr(tid), uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return 0, 0, syserr("get_robust_list", e)
	}
	return uint64(h), uint64(l), nil
}

// RegsBytes and RegsFromBytes convert user_regs_struct to and from the bytes
// stored in an image.
func RegsBytes(r *unix.PtraceRegs) []byte {
	b := make([]byte, unsafe.Sizeof(*r))
	copy(b, unsafe.Slice((*byte)(unsafe.Pointer(r)), len(b)))
	return b
}

// RegsFromBytes is the inverse of RegsBytes; ok is false on a size mismatch.
func RegsFromBytes(b []byte) (r unix.PtraceRegs, ok bool) {
	if len(b) != int(unsafe.Sizeof(r)) {
		return r, false
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&r)), len(b)), b)
	return r, true
}
