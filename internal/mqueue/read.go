package mqueue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"stasis/internal/kernel"
)

// readerEnv, set in its environment, makes a stasis command a queue
// reader (see Read) instead of what it is.
const readerEnv = "STASIS_MQUEUE_READER"

// killEnv, for tests, has the reader kill the command that started it
// once it holds the messages, before it queues them again.
const killEnv = "STASIS_TEST_KILL_MQUEUE_READER"

func init() {
	if os.Getenv(readerEnv) != "" {
		os.Exit(readerMain())
	}
}

// Message is a queued message and its priority.
type Message struct {
	Prio uint32
	Data []byte
}

// maxBytes bounds what one queue may hold for Read (its messages go in
// a process record of an image, which is capped).
const maxBytes = 16 << 20

// putBack bounds how long the reader waits for room to queue a message
// again: a process outside may have filled the queue meanwhile.
const putBack = 10 * time.Second

// Read returns the messages queued in the queue q is open on (for
// reading and writing), in the order a receiver would get them, and
// leaves them queued in that order. A helper process does the work: this
// program again, in a session of its own, which takes every message and
// queues each again with its priority before it hands them over; so
// whoever calls Read may be killed (alone, or with its process group)
// at any moment without a message lost. Messages that a process outside
// sends or receives meanwhile may be missed or seen out of turn.
func Read(q *os.File) ([]Message, error) {
	attr, err := kernel.MqGetAttr(int(q.Fd()))
	if err != nil {
		return nil, err
	}
	if attr.CurMsgs == 0 {
		return nil, nil
	}
	if attr.MsgSize <= 0 || attr.MaxMsg*(attr.MsgSize+8) > maxBytes {
		return nil, fmt.Errorf("room for %d messages of up to %d bytes: too large to keep", attr.MaxMsg, attr.MsgSize)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var stderr bytes.Buffer
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), readerEnv+"=1")
	cmd.ExtraFiles = []*os.File{q, w} // fds 3 and 4
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("queue reader: %w", err)
	}
	w.Close()
	b, rerr := io.ReadAll(io.LimitReader(r, maxBytes+1))
	werr := cmd.Wait()
	if werr != nil {
		return nil, fmt.Errorf("queue reader: %w: %s", werr, bytes.TrimSpace(stderr.Bytes()))
	}
	if rerr != nil {
		return nil, fmt.Errorf("queue reader: %w", rerr)
	}
	return decode(b)
}

// decode reads what the reader wrote: for each message its priority and
// length (4 bytes each) and its bytes.
func decode(b []byte) ([]Message, error) {
	var out []Message
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errors.New("queue reader: truncated output")
		}
		prio, n := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
		if uint64(n) > uint64(len(b)-8) {
			return nil, errors.New("queue reader: truncated output")
		}
		out = append(out, Message{Prio: prio, Data: bytes.Clone(b[8 : 8+n])})
		b = b[8+n:]
	}
	return out, nil
}

// readerMain is the reader process: the queue is fd 3, the pipe to the
// caller fd 4. It takes the messages, queues them again in the order
// taken, then writes them out; it never needs the caller to put them
// back.
func readerMain() int {
	os.Unsetenv(readerEnv)
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	const q = 3
	attr, err := kernel.MqGetAttr(q)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	buf := make([]byte, attr.MsgSize)
	var msgs []Message
	for int64(len(msgs)) < attr.MaxMsg { // until it is empty
		n, prio, err := kernel.MqReceive(q, buf, time.Time{})
		if errors.Is(err, unix.ETIMEDOUT) || errors.Is(err, unix.EAGAIN) {
			break // taken by another meanwhile
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			break
		}
		msgs = append(msgs, Message{Prio: prio, Data: bytes.Clone(buf[:n])})
	}
	if os.Getenv(killEnv) != "" {
		killCaller()
	}
	status := 0
	for i, m := range msgs {
		if err := kernel.MqSend(q, m.Data, m.Prio, time.Now().Add(putBack)); err != nil {
			fmt.Fprintf(os.Stderr, "queue message %d of %d again (priority %d, %d bytes): %v: it is lost\n", i+1, len(msgs), m.Prio, len(m.Data), err)
			status = 1
		}
	}
	if status != 0 {
		return status
	}
	out := os.NewFile(4, "queue reader pipe")
	var b []byte
	for _, m := range msgs {
		b = binary.LittleEndian.AppendUint32(b, m.Prio)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Data)))
		b = append(b, m.Data...)
	}
	if _, err := out.Write(b); err != nil {
		return 1 // the caller is gone: the messages are queued again all the same
	}
	return 0
}

// killCaller kills the process that started the reader and waits until
// it is gone (tests only).
func killCaller() {
	pidfd, err := unix.PidfdOpen(os.Getppid(), 0)
	if err != nil {
		return
	}
	defer unix.Close(pidfd)
	unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, 10_000)
}

// NotifyPid reads the status line of the queue q is open on ("QSIZE:5
// NOTIFY:0 SIGNO:0 NOTIFY_PID:0") and returns the pid registered with
// mq_notify, as our pid namespace sees it; 0 for none.
func NotifyPid(q *os.File) (int, error) {
	b := make([]byte, 256)
	n, err := q.ReadAt(b, 0)
	if n == 0 && err != nil {
		return 0, fmt.Errorf("read its status: %w", err)
	}
	for _, w := range strings.Fields(string(b[:n])) {
		if v, ok := strings.CutPrefix(w, "NOTIFY_PID:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("status %q: no NOTIFY_PID", b[:n])
}
