package control

import "errors"

// Op names a message from a client to the agent.
type Op string

const (
	// OpCheckpoint asks for a checkpoint (from cr_checkpoint or libcr).
	OpCheckpoint Op = "checkpoint"
	// OpHello registers a libcr process; the connection then stays open
	// and carries Events to it and its answers back.
	OpHello Op = "hello"
	// Answers of a libcr process to EvPrepare (BLCR's cr_checkpoint flags).
	OpReady    Op = "ready"
	OpTempFail Op = "tempfail"
	OpPermFail Op = "permfail"
	OpOmit     Op = "omit"
)

// Scope kinds, as cr_checkpoint's -T -p -g -s.
const (
	ScopeTree    = "tree"
	ScopeProcess = "process"
	ScopeGroup   = "group"
	ScopeSession = "session"
)

// Request is one message to the agent.
type Request struct {
	Op  Op     `json:"op"`
	ID  uint64 `json:"id,omitempty"`  // pairs a request with its Reply, an answer with its EvPrepare
	Fd  int    `json:"fd,omitempty"`  // OpHello: the fd number of this connection in the caller
	Msg string `json:"msg,omitempty"` // OpTempFail, OpPermFail: why
	// Code is, for OpTempFail and OpPermFail, the callback's own error
	// code (BLCR's CR_CHECKPOINT_*_FAILURE_CODE); 0: CR_ETEMPFAIL or
	// CR_EPERMFAIL.
	Code int `json:"code,omitempty"`

	// OpCheckpoint.
	Target int    `json:"target,omitempty"` // a pid in the job; 0: the whole job
	Scope  string `json:"scope,omitempty"`
	Path   string `json:"path,omitempty"` // absolute; empty: the agent's default
	Signal int    `json:"signal,omitempty"`
	NoSync bool   `json:"nosync,omitempty"`
	// Policy is the writer's (package writer's Policy), Backup the name
	// for --backup=NAME; Time is -t in seconds (0: no limit).
	Policy int    `json:"policy,omitempty"`
	Backup string `json:"backup,omitempty"`
	Time   int    `json:"time,omitempty"`
	// Stream: the image goes to an fd the client passes (cr_checkpoint
	// -F), when the agent answers WantFd.
	Stream bool `json:"stream,omitempty"`
	// Compress is --compress: "none", "lz4" or "zstd".
	Compress string `json:"compress,omitempty"`
	// Save is --save-*, as package checkpoint's SaveFiles bits.
	Save int `json:"save,omitempty"`
	// CutPipes is --cut-pipes.
	CutPipes bool `json:"cut_pipes,omitempty"`
	// TCP is --tcp-established or --tcp-close, as package checkpoint's
	// TCPOutside values.
	TCP int `json:"tcp,omitempty"`
	// KeepFilesBelow is --keep-files-below (0: the default; -1: none).
	KeepFilesBelow int64 `json:"keep_files_below,omitempty"`
	// Dir: Path is a checkpoint directory (cr_checkpoint -d).
	Dir bool `json:"dir,omitempty"`
	// BLCR's ptrace policies, as package scope's Policy values.
	Ptraced int `json:"ptraced,omitempty"`
	Ptracer int `json:"ptracer,omitempty"`
}

// Reply answers an OpCheckpoint.
type Reply struct {
	ID    uint64 `json:"id,omitempty"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Status is the exit status cr_checkpoint should end with on error
	// (BLCR's: 50 for a temporary failure, 51 permanent, 3 all omitted;
	// for a callback's own code, its low 8 bits).
	Status int `json:"status,omitempty"`
	// Code is the callback's own error code that cancelled it, if any.
	Code int    `json:"code,omitempty"`
	Path string `json:"path,omitempty"` // where the image was written
	// Restarted is set in the reply a libcr caller reads after it was
	// restarted from the image the request made.
	Restarted bool `json:"restarted,omitempty"`
	// WantFd asks the client of a Stream request for its fd, sent with
	// SCM_RIGHTS and one byte; the final Reply follows.
	WantFd bool `json:"want_fd,omitempty"`
}

// StatusTimeout is cr_checkpoint's exit status when -t expired (ETIMEDOUT).
const StatusTimeout = 110

// Ev names a message from the agent to a libcr process.
type Ev string

const (
	// EvPrepare: a checkpoint that includes you is about to be taken; run
	// your callbacks and answer.
	EvPrepare Ev = "prepare"
	// EvDone: the checkpoint you were asked to prepare for was taken (or
	// failed, Error set, or was given up before you answered); you
	// continue. docs/libcr-protocol.md is the whole protocol.
	EvDone Ev = "done"
	// EvRestarted: you were restarted from Path; everything you were
	// waiting for has ended with "restarted".
	EvRestarted Ev = "restarted"
	// EvReply carries the Reply to your own OpCheckpoint.
	EvReply Ev = "reply"
)

// Event is one message from the agent to a libcr process.
type Event struct {
	Ev Ev     `json:"ev"`
	ID uint64 `json:"id,omitempty"`
	// Requester is, for EvPrepare, the pid that asked for the checkpoint
	// (0: the agent itself); for EvRestarted, the restarting agent's pid.
	Requester int    `json:"requester,omitempty"`
	Target    int    `json:"target,omitempty"` // EvPrepare: the pid, pgid or sid asked for
	Scope     string `json:"scope,omitempty"`
	Signal    int    `json:"signal,omitempty"` // EvPrepare: sent once the image is taken
	Path      string `json:"path,omitempty"`
	Error     string `json:"error,omitempty"`
	// Status is, for an EvDone with Error, cr_checkpoint's exit status
	// for the failure (StatusTempFail: some process cancelled it for now).
	Status int    `json:"status,omitempty"`
	Code   int    `json:"code,omitempty"` // EvDone: a callback's own error code that cancelled it
	Reply  *Reply `json:"reply,omitempty"`
}

// Cancelled is a checkpoint that a libcr callback cancelled (OpTempFail,
// OpPermFail), with the callback's own error code if it gave one.
type Cancelled struct {
	Msg  string
	Code int
}

func (e *Cancelled) Error() string { return e.Msg }

// Failed gives a failed checkpoint's reply its status and, for one a
// callback cancelled with its own code, that code and, as BLCR's
// cr_checkpoint exits, its low 8 bits as the status.
func Failed(status int, err error) Reply {
	r := Reply{Error: err.Error(), Status: status}
	var c *Cancelled
	if errors.As(err, &c) && c.Code != 0 {
		r.Code = c.Code
		if c.Code&0xff != 0 {
			r.Status = c.Code & 0xff
		}
	}
	return r
}

// Exit statuses of cr_checkpoint, as BLCR's cr_checkpoint exits with its
// error codes (truncated to 8 bits).
const (
	StatusTempFail = 50 // CR_ETEMPFAIL (2354)
	StatusPermFail = 51 // CR_EPERMFAIL (2355)
	StatusOmitted  = 3  // ESRCH: every process asked to be omitted
)
