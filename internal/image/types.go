package image

// The metadata of an image. Each process is one RecProcess record holding a
// Process encoded as JSON, followed by the RecPages and RecFileData records
// that carry its memory and file contents. Everything here is plain data: it
// says what the process was, never how to rebuild it.

// Process is everything about one process except its page data.
type Process struct {
	Pid  int `json:"pid"`
	PPid int `json:"ppid"`
	Pgid int `json:"pgid"`
	Sid  int `json:"sid"`
	// TtyNr is the controlling terminal's device number (stat's tty_nr;
	// 0: none) and Tpgid its foreground process group, made so again
	// when the terminal is a pty of the image (Pty.Rdev).
	TtyNr      int `json:"tty_nr,omitempty"`
	Tpgid      int `json:"tpgid,omitempty"`
	ExitSignal int `json:"exit_signal,omitempty"` // sent to the parent at exit (SIGCHLD, mostly)
	// Zombie: the process had exited and its parent (in the image) had not
	// reaped it; ExitCode is the wait status the parent will get. A zombie
	// has nothing else.
	Zombie   bool `json:"zombie,omitempty"`
	ExitCode int  `json:"exit_code,omitempty"`
	// Stopped: the process was stopped by job control (SIGSTOP, SIGTSTP)
	// when checkpointed; it is restored stopped (cr_restart --cont
	// lets it run, as in BLCR).
	Stopped     bool   `json:"stopped,omitempty"`
	Comm        string `json:"comm"`
	Exe         string `json:"exe"`
	Cwd         string `json:"cwd"`
	Root        string `json:"root"`
	Umask       uint32 `json:"umask"`
	Personality uint32 `json:"personality"`
	Creds       Creds  `json:"creds"`
	// SysvSems and SysvMsgs are the System V semaphore sets and message
	// queues this process used last.
	SysvSems   []SysvSem `json:"sysv_sems,omitempty"`
	SysvMsgs   []SysvMsg `json:"sysv_msgs,omitempty"`
	NoNewPrivs bool      `json:"no_new_privs,omitempty"`
	// Securebits are the main thread's (prctl PR_GET_SECUREBITS).
	Securebits uint32 `json:"securebits,omitempty"`
	// Seccomp is the agent's filter, when the process runs under one
	// (the only filter an image can hold).
	Seccomp *Seccomp `json:"seccomp,omitempty"`

	Rlimits       []Rlimit     `json:"rlimits"`
	Sigactions    []Sigaction  `json:"sigactions"`
	SharedPending []SigInfo    `json:"shared_pending,omitempty"`
	Itimers       [3]Itimer    `json:"itimers"`
	PosixTimers   []PosixTimer `json:"posix_timers,omitempty"`

	// Clocks are CLOCK_MONOTONIC and CLOCK_BOOTTIME as the process saw
	// them (in its time namespace) once every process of the image was
	// frozen: no process of the image ever saw later values.
	Clocks *Clocks `json:"clocks,omitempty"`

	MM      MM       `json:"mm"`
	VMAs    []VMA    `json:"vmas"`
	Threads []Thread `json:"threads"`
	Fds     []Fd     `json:"fds"`

	// Files are the files the process maps or runs, as they were at
	// checkpoint; ExeFile is the ID of its executable among them (0:
	// not recorded).
	Files   []MappedFile `json:"files,omitempty"`
	ExeFile int          `json:"exe_file,omitempty"`
	// XcompPerm is the xsave features the process may use
	// (arch_prctl(ARCH_GET_XCOMP_PERM)): AMX's, once asked for.
	XcompPerm uint64 `json:"xcomp_perm,omitempty"`
}

// Clocks are the clocks that must not go backwards across a restart.
type Clocks struct {
	Monotonic Timespec `json:"monotonic"`
	Boottime  Timespec `json:"boottime"`
}

// Seccomp is the stasis agent's system-call filter (package seccomp),
// installed again on restart, with its listener handed to the new agent.
type Seccomp struct {
	Deny bool `json:"deny,omitempty"` // refuses watched calls with ENOSYS; no listener
}

// Creds are the process credentials; a restore never grants more than these.
type Creds struct {
	Uid    [4]int `json:"uid"` // real, effective, saved, fs
	Gid    [4]int `json:"gid"`
	Groups []int  `json:"groups"`
	CapInh uint64 `json:"cap_inh"`
	CapPrm uint64 `json:"cap_prm"`
	CapEff uint64 `json:"cap_eff"`
	CapBnd uint64 `json:"cap_bnd"`
	CapAmb uint64 `json:"cap_amb"`
}

// Rlimit is one resource limit as prlimit(2) reports it.
type Rlimit struct {
	Resource int    `json:"resource"`
	Cur      uint64 `json:"cur"`
	Max      uint64 `json:"max"`
}

// Sigaction is the kernel's struct sigaction for one signal.
type Sigaction struct {
	Sig      int    `json:"sig"`
	Handler  uint64 `json:"handler"`
	Flags    uint64 `json:"flags"`
	Restorer uint64 `json:"restorer"`
	Mask     uint64 `json:"mask"`
}

// SigInfo is a queued signal: its number and the kernel's 128-byte siginfo.
type SigInfo struct {
	Sig  int    `json:"sig"`
	Info []byte `json:"info"`
}

// Timeval is a struct timeval; Timespec a struct timespec.
type Timeval struct {
	Sec  int64 `json:"sec"`
	Usec int64 `json:"usec"`
}

type Timespec struct {
	Sec  int64 `json:"sec"`
	Nsec int64 `json:"nsec"`
}

// Itimer is one of ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
type Itimer struct {
	Interval Timeval `json:"interval"`
	Value    Timeval `json:"value"`
}

// PosixTimer is one timer_create(2) timer with its remaining time.
type PosixTimer struct {
	ID         int      `json:"id"`
	Clock      int      `json:"clock"`
	Notify     int      `json:"notify"` // SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID
	Signal     int      `json:"signal"`
	SigevValue uint64   `json:"sigev_value"`
	NotifyTid  int      `json:"notify_tid,omitempty"`
	Overrun    int      `json:"overrun"`
	Interval   Timespec `json:"interval"`
	Value      Timespec `json:"value"`
}

// MM holds the mm_struct fields that prctl(PR_SET_MM_MAP) restores.
type MM struct {
	StartCode  uint64 `json:"start_code"`
	EndCode    uint64 `json:"end_code"`
	StartData  uint64 `json:"start_data"`
	EndData    uint64 `json:"end_data"`
	StartBrk   uint64 `json:"start_brk"`
	Brk        uint64 `json:"brk"`
	StartStack uint64 `json:"start_stack"`
	ArgStart   uint64 `json:"arg_start"`
	ArgEnd     uint64 `json:"arg_end"`
	EnvStart   uint64 `json:"env_start"`
	EnvEnd     uint64 `json:"env_end"`
	Auxv       []byte `json:"auxv"`
}

// VMA kinds.
const (
	VMAAnon       = "anon"        // private anonymous memory, heap and stack included
	VMAShmem      = "shmem"       // shared memory with no file to map: MAP_SHARED|MAP_ANONYMOUS, a memfd, an unlinked file
	VMASysv       = "sysv"        // a System V shared memory segment (shmat)
	VMAFile       = "file"        // a mapping of a file that exists at Path
	VMAVdso       = "vdso"        // [vdso]
	VMAVvar       = "vvar"        // [vvar]
	VMAVvarVclock = "vvar_vclock" // [vvar_vclock]
	VMAVsyscall   = "vsyscall"    // [vsyscall]: fixed by the kernel, not rebuilt
)

// VMA is one mapping of the address space.
type VMA struct {
	Start  uint64 `json:"start"`
	End    uint64 `json:"end"`
	Prot   int    `json:"prot"`   // PROT_READ|PROT_WRITE|PROT_EXEC
	Shared bool   `json:"shared"` // MAP_SHARED
	Kind   string `json:"kind"`
	Name   string `json:"name,omitempty"` // [heap], [stack], [anon:...] as /proc shows
	Path   string `json:"path,omitempty"`
	Offset uint64 `json:"offset,omitempty"`
	Inode  uint64 `json:"inode,omitempty"`
	Dev    string `json:"dev,omitempty"`
	// FileSize is the size of the mapped file when checkpointed, so a
	// restart can tell that it changed.
	FileSize  int64 `json:"file_size,omitempty"`
	GrowsDown bool  `json:"grows_down,omitempty"`
	// File is the ID of the mapped file in the process's Files (0: none
	// recorded).
	File int `json:"file,omitempty"`
	// Sysv is the System V shared memory segment a VMASysv maps.
	Sysv *SysvShm `json:"sysv,omitempty"`
	// FromImage, never stored, tells a checkpoint that this VMAAnon is
	// mapped from a stasis image by a lazy restart: every page of it holds
	// the program's data, present in the page tables or not.
	FromImage bool `json:"-"`
}

// MappedFile is a file that processes of the image map or run, as it was
// at checkpoint. IDs are unique in an image: every process that maps the
// same file names it by the same ID. When Saved, the file's contents are
// in the image, in a RecSavedFile record whose Arg is the ID, written
// before the first process that names it; a restart maps that copy and
// never looks at Path.
type MappedFile struct {
	ID   int    `json:"id"`
	Path string `json:"path"`
	Size int64  `json:"size"`
	// BuildID is the file's ELF build-id (its NT_GNU_BUILD_ID note), in
	// hex; "" when it has none.
	BuildID string `json:"build_id,omitempty"`
	Saved   bool   `json:"saved,omitempty"`
}

// SysvShm is a System V shared memory segment; it is made again with the
// same id (and key), and attached where each process had it.
type SysvShm struct {
	Key     int32  `json:"key"`
	ID      int    `json:"id"`
	Size    uint64 `json:"size"`
	Mode    uint32 `json:"mode"` // permissions
	Uid     int    `json:"uid"`
	Gid     int    `json:"gid"`
	Removed bool   `json:"removed,omitempty"` // IPC_RMID: gone when the last process detaches
}

// SysvSem is a System V semaphore set that a process of the image used
// (the last semop on one of its semaphores); it is made again with the
// same id, key, permissions and values if it is gone at restart, or taken
// as it is if it still exists. Undo adjustments (SEM_UNDO) are not kept.
type SysvSem struct {
	Key    int32    `json:"key"`
	ID     int      `json:"id"`
	Mode   uint32   `json:"mode"`
	Values []uint16 `json:"values"`
}

// SysvMsg is a System V message queue that a process of the image used
// (its last sender or receiver), with the messages queued in it; made
// again, or taken as it is, like a SysvSem.
type SysvMsg struct {
	Key      int32         `json:"key"`
	ID       int           `json:"id"`
	Mode     uint32        `json:"mode"`
	Messages []SysvMessage `json:"messages,omitempty"`
}

// SysvMessage is one queued message: its type and its text.
type SysvMessage struct {
	Type int64  `json:"type"`
	Text []byte `json:"text"`
}

// Thread is the per-thread state.
type Thread struct {
	Tid           int       `json:"tid"`
	Comm          string    `json:"comm"`
	Regs          []byte    `json:"regs"`   // struct user_regs_struct
	Xstate        []byte    `json:"xstate"` // NT_X86_XSTATE
	SigMask       uint64    `json:"sigmask"`
	Pending       []SigInfo `json:"pending,omitempty"`
	AltStack      AltStack  `json:"altstack"`
	Rseq          Rseq      `json:"rseq"`
	RobustList    uint64    `json:"robust_list"`
	RobustLen     uint64    `json:"robust_len"`
	ClearChildTid uint64    `json:"clear_child_tid"`
}

// AltStack is a stack_t.
type AltStack struct {
	SP    uint64 `json:"sp"`
	Flags int32  `json:"flags"`
	Size  uint64 `json:"size"`
}

// Rseq is a thread's rseq registration; Addr 0 means none.
type Rseq struct {
	Addr uint64 `json:"addr"`
	Len  uint32 `json:"len"`
	Sig  uint32 `json:"sig"`
}

// Fd kinds.
const (
	FdFile     = "file"     // regular file or directory, reopened by path
	FdDevice   = "device"   // a character device such as /dev/null, reopened by path
	FdMemfd    = "memfd"    // a memfd; contents in a RecFileData record
	FdDeleted  = "deleted"  // an unlinked regular file; contents in a RecFileData record
	FdStdio    = "stdio"    // replaced by the restarter's own fd Stdio
	FdEventfd  = "eventfd"  //
	FdEpoll    = "epoll"    //
	FdTimerfd  = "timerfd"  //
	FdSignalfd = "signalfd" //
	FdAgent    = "agent"    // libcr's connection to its agent: reconnected to the restarting agent
	FdPipe     = "pipe"     // one end of a pipe whose both ends are in the image
	FdShared   = "shared"   // the open file description of another fd of the image (SameAs)
	FdSocket   = "socket"   // one end of a connected unix socket pair whose both ends are in the image
	FdListener = "listener" // a listening, or bound and unconnected, socket: made again with its address and options
	FdTCP      = "tcp"      // an established TCP connection whose both ends are in the image: made again with TCP_REPAIR
	FdPty      = "pty"      // the master or a slave of a pseudo-terminal whose master is in the image
	FdMqueue   = "mqueue"   // a POSIX message queue (mq_open), by name (Path), with its messages
	FdInotify  = "inotify"  // an inotify instance, with its watches by path
)

// Fd is one open file descriptor.
type Fd struct {
	Num     int    `json:"num"`
	Kind    string `json:"kind"`
	Path    string `json:"path,omitempty"`
	Flags   int    `json:"flags"` // open flags as fdinfo shows them (O_CLOEXEC included)
	Pos     int64  `json:"pos"`
	Stdio   int    `json:"stdio,omitempty"` // for FdStdio: which of the restarter's fds
	Size    int64  `json:"size,omitempty"`  // regular files: size at checkpoint
	Mode    uint32 `json:"mode,omitempty"`
	DataIdx int    `json:"data_idx,omitempty"` // RecFileData record's Arg, for memfd/deleted
	// State identifies a regular file's state at checkpoint, by which a
	// restart tells whether it changed since.
	State *FileState `json:"state,omitempty"`

	EventfdCount     uint64         `json:"eventfd_count,omitempty"`
	EventfdSemaphore bool           `json:"eventfd_semaphore,omitempty"`
	Epoll            []EpollTarget  `json:"epoll,omitempty"`
	Timerfd          *Timerfd       `json:"timerfd,omitempty"`
	SignalfdMask     uint64         `json:"signalfd_mask,omitempty"`
	Pipe             *Pipe          `json:"pipe,omitempty"`
	Socket           *Socket        `json:"socket,omitempty"`
	Listener         *Listener      `json:"listener,omitempty"`
	TCP              *TCPConn       `json:"tcp,omitempty"`
	Mqueue           *Mqueue        `json:"mqueue,omitempty"`
	Inotify          []InotifyWatch `json:"inotify,omitempty"`
	Pty              *Pty           `json:"pty,omitempty"`

	// SameAs, when set, says this fd is the same open file description
	// as an fd of a process earlier in the image (inherited across fork,
	// or passed): it is shared again on restart, offset and flags with it.
	SameAs *FdRef `json:"same_as,omitempty"`
}

// Mqueue is a POSIX message queue an fd is open on: Path is its name
// ("/NAME"), Mode its permissions, Flags the fd's access mode and
// O_NONBLOCK. The queue is made again if it is gone, with its owner, its
// limits and the messages it held, in the order a receiver would have
// got them.
type Mqueue struct {
	Uid      int         `json:"uid"`
	Gid      int         `json:"gid"`
	MaxMsg   int64       `json:"maxmsg"`  // mq_maxmsg
	MsgSize  int64       `json:"msgsize"` // mq_msgsize
	Messages []MqMessage `json:"messages,omitempty"`
}

// InotifyWatch is one watch of an inotify instance: its descriptor, the
// path of the watched file or directory when checkpointed, its mask as
// inotify_add_watch takes it, and the inode it was (device in the
// kernel's encoding, major<<20|minor). It is added again by path, with
// the same descriptor. Events that were queued and not yet read are not
// kept.
type InotifyWatch struct {
	Wd   int    `json:"wd"`
	Path string `json:"path"`
	Mask uint32 `json:"mask"`
	Ino  uint64 `json:"ino"`
	Sdev uint32 `json:"sdev"`
}

// MqMessage is one queued message of a POSIX message queue.
type MqMessage struct {
	Prio uint32 `json:"prio"`
	Data []byte `json:"data"`
}

// FdRef names an fd of a process of the image.
type FdRef struct {
	Pid int `json:"pid"`
	Fd  int `json:"fd"`
}

// Socket is one end of a connected unix socket pair inside the image. The
// first fd of each end carries the messages waiting to be read from it.
type Socket struct {
	Ino      uint64   `json:"ino"`
	Peer     uint64   `json:"peer"`
	Type     int      `json:"type"`               // SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
	Shutdown int      `json:"shutdown,omitempty"` // RCV_SHUTDOWN 1, SEND_SHUTDOWN 2
	Queue    [][]byte `json:"queue,omitempty"`
	// Passed are the files passed (SCM_RIGHTS) with each message of
	// Queue, by index: made again and sent with it.
	Passed [][]PassedFile `json:"passed,omitempty"`
	// Creds are the sender's credentials of each message of Queue, by
	// index, that a receiver with SO_PASSCRED gets (SCM_CREDENTIALS):
	// none, or one for every message. They are sent again with it.
	Creds []Ucred `json:"creds,omitempty"`
	// Name and PeerName are the names ("/path" or "@abstract") of the
	// ends of a pair inside the image that has one: the end a server
	// bound to a name accepted, or an end bound before it connected.
	Name     string `json:"name,omitempty"`
	PeerName string `json:"peer_name,omitempty"`
	// Opts and PeerOpts are the options of the two ends that differ
	// from a new socket's (SO_SNDBUF, SO_PASSCRED...), set before the
	// queues are refilled.
	Opts     []SockOpt `json:"opts,omitempty"`
	PeerOpts []SockOpt `json:"peer_opts,omitempty"`
	// Outside: Peer was outside the checkpoint, which cut the connection
	// (--cut-pipes); the end is restored with what waited in it and a
	// peer that has closed, or as the descriptor cr_restart --inherit-fd
	// gives for "socket:[Ino]".
	Outside bool `json:"outside,omitempty"`
	// Connect is the path (or "@" and abstract name) of the bound socket
	// that a datagram socket was connected to: one outside the checkpoint,
	// such as /dev/log, or a server's socket of the image (a Listener).
	// It is connected to it again once every process of the image is
	// made; Name, if set, is its own name, bound first (Mode: its socket
	// file's permission bits). Its Queue holds datagrams from the socket
	// it is connected to, which must then be in the image: they are sent
	// again from that one, to Name.
	Connect string `json:"connect,omitempty"`
	Mode    uint32 `json:"mode,omitempty"`
}

// Pty is a pseudo-terminal whose master a process of the image held, as
// every fd of it records it: which end the fd is, and the terminal's
// settings, which the first fd of it to be restored makes it again with.
type Pty struct {
	// Rdev is the slave's device number at the checkpoint, as
	// /proc/PID/stat's tty_nr gives a controlling terminal's; Index its
	// number under /dev/pts, which a restart gives it again if free.
	Rdev    uint64  `json:"rdev"`
	Index   int     `json:"index"`
	Master  bool    `json:"master,omitempty"`
	Termios Termios `json:"termios"`
	Rows    uint16  `json:"rows,omitempty"`
	Cols    uint16  `json:"cols,omitempty"`
	Packet  bool    `json:"packet,omitempty"` // TIOCPKT
	Locked  bool    `json:"locked,omitempty"` // TIOCSPTLCK: the slave cannot be opened by path
	// Out is what the slave had written that waited to be read from the
	// master.
	Out []byte `json:"out,omitempty"`
}

// Termios is the slave's struct termios (TCGETS).
type Termios struct {
	Iflag  uint32    `json:"iflag"`
	Oflag  uint32    `json:"oflag"`
	Cflag  uint32    `json:"cflag"`
	Lflag  uint32    `json:"lflag"`
	Line   uint8     `json:"line"`
	Cc     [19]uint8 `json:"cc"`
	Ispeed uint32    `json:"ispeed"`
	Ospeed uint32    `json:"ospeed"`
}

// PassedFile is a file in flight in a socket's queue: the open file
// description of an fd of a process of the image (Same), sent again as
// it is restored; or else a regular file or directory, opened again by
// Path with its status flags and offset.
type PassedFile struct {
	Path  string `json:"path,omitempty"`
	Flags int    `json:"flags,omitempty"`
	Pos   int64  `json:"pos,omitempty"`
	Same  *FdRef `json:"same,omitempty"`
}

// Ucred is a message's sender as SCM_CREDENTIALS gives it: its pid as
// the image numbers processes (a process of the image), its effective
// uid and gid.
type Ucred struct {
	Pid int `json:"pid"`
	Uid int `json:"uid"`
	Gid int `json:"gid"`
}

// Listener is a socket that listens, or is bound (or not even that) and
// connected to nothing: a server's. It is made again with its address
// and options; connections that waited to be accepted are not in it.
type Listener struct {
	Family   int `json:"family"` // AF_INET, AF_INET6, AF_UNIX
	Type     int `json:"type"`   // SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
	Protocol int `json:"protocol,omitempty"`
	// Addr is the bound address: "ip:port" ("[ip]:port" for IPv6), an
	// absolute unix path, or "@" and an abstract unix name; "" if unbound.
	Addr string `json:"addr,omitempty"`
	// Backlog is listen()'s, as the kernel keeps it; 0: not listening.
	Backlog int `json:"backlog,omitempty"`
	// Mode is a path-bound socket file's permission bits.
	Mode uint32 `json:"mode,omitempty"`
	// Opts are the options whose values differ from a new socket's.
	Opts []SockOpt `json:"opts,omitempty"`
	// Queue are the datagrams waiting on a bound unix datagram socket,
	// and From their senders' names by index: "" for an unnamed sender,
	// or the name ("/path", "@abstract") of a socket of the image, from
	// which the restart sends the datagram again once every process of
	// the image is made.
	Queue [][]byte `json:"queue,omitempty"`
	From  []string `json:"from,omitempty"`
}

// TCPConn is an established TCP connection, as TCP_REPAIR shows it: its
// addresses, the sequence numbers its queues start at and their bytes
// (sent and not yet acknowledged or not yet sent; received and not yet
// read), what was negotiated, and its windows.
type TCPConn struct {
	Family    int    `json:"family"` // AF_INET, AF_INET6
	Local     string `json:"local"`  // ip:port
	Peer      string `json:"peer"`
	SendSeq   uint32 `json:"send_seq"`
	RecvSeq   uint32 `json:"recv_seq"`
	SendQueue []byte `json:"send_queue,omitempty"`
	RecvQueue []byte `json:"recv_queue,omitempty"`
	// NotSent is how many bytes at the end of SendQueue had not been
	// sent yet: its peer has had at most the rest.
	NotSent int `json:"not_sent,omitempty"`
	MSS     int `json:"mss"`
	// SndWscale and RcvWscale are the window scales, when negotiated.
	SndWscale  int    `json:"snd_wscale,omitempty"`
	RcvWscale  int    `json:"rcv_wscale,omitempty"`
	Wscale     bool   `json:"wscale,omitempty"`
	SACK       bool   `json:"sack,omitempty"`
	Timestamps bool   `json:"timestamps,omitempty"`
	Timestamp  uint32 `json:"timestamp,omitempty"` // TCP_TIMESTAMP: the clock its timestamps carry
	// TimestampAt is when (CLOCK_REALTIME, in ns) Timestamp was read:
	// the connection may have sent later ones before it was killed, so
	// its clock is put back as far on as the time that has passed.
	TimestampAt int64 `json:"timestamp_at,omitempty"`
	// Window is struct tcp_repair_window: snd_wl1, snd_wnd, max_window,
	// rcv_wnd, rcv_wup.
	Window [5]uint32 `json:"window"`
	Opts   []SockOpt `json:"opts,omitempty"`
	// Outside says the peer is outside the image (--tcp-established):
	// until the restart, the nftables table Lock (package netlock) drops
	// what it sends.
	Outside bool   `json:"outside,omitempty"`
	Lock    string `json:"lock,omitempty"`
	// Closed says the connection, to a peer outside, was saved with
	// --tcp-close: only its addresses are kept, and it is restored as
	// one its peer reset.
	Closed bool `json:"closed,omitempty"`
}

// SockOpt is a socket option: an int, or for SO_LINGER onoff and linger,
// for SO_RCVTIMEO and SO_SNDTIMEO seconds and microseconds.
type SockOpt struct {
	Level int     `json:"level"`
	Name  int     `json:"name"`
	Value []int64 `json:"value"`
}

// Pipe is one end of a pipe inside the image, or of a widowed one (see
// Widowed). Ino tells pipes apart; the
// first fd of a pipe in the image carries its size and the bytes that were
// waiting in it.
type Pipe struct {
	Ino uint64 `json:"ino"`
	// Path is a FIFO's path ("" for a pipe); ReadWrite an fd open on it
	// for both reading and writing.
	Path      string `json:"path,omitempty"`
	ReadWrite bool   `json:"rw,omitempty"`
	Write     bool   `json:"write,omitempty"` // the write end
	// Widowed: no process anywhere held the other end (a pipe whose
	// writer is gone still gives its bytes, then end of file; one whose
	// reader is gone gives EPIPE); it is restored so.
	Widowed bool `json:"widowed,omitempty"`
	// Outside: the other end was held outside the checkpoint, which
	// cut it (--cut-pipes); the end is restored widowed, or as the
	// descriptor cr_restart --inherit-fd gives for "pipe:[Ino]".
	Outside bool   `json:"outside,omitempty"`
	Size    int    `json:"size,omitempty"` // F_GETPIPE_SZ
	Data    []byte `json:"data,omitempty"`
}

// FileState is what identifies a file's state: where it is and when its
// contents and its inode last changed (nanoseconds since the epoch).
type FileState struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Mtime int64  `json:"mtime"`
	Ctime int64  `json:"ctime"`
	// Sum is the SHA-256 of a small file's contents (one kept in the
	// image), which tells a change that left the times alone (a write in
	// the same clock tick as the checkpoint).
	Sum string `json:"sum,omitempty"`
}

// EpollTarget is one fd registered in an epoll instance.
type EpollTarget struct {
	Fd     int    `json:"fd"`
	Events uint32 `json:"events"`
	Data   uint64 `json:"data"`
}

// Timerfd is a timerfd's clock and remaining time.
type Timerfd struct {
	Clock    int      `json:"clock"`
	Ticks    uint64   `json:"ticks"`
	Flags    int      `json:"settime_flags"`
	Interval Timespec `json:"interval"`
	Value    Timespec `json:"value"`
}
