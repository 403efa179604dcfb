// Package kernel is stasis's one way into the Linux system-call layer beyond
// what golang.org/x/sys/unix already wraps: raw ptrace requests (register
// sets, signal masks, queued siginfo, rseq configuration), get_robust_list,
// and the kernel structures they exchange, with their layouts spelled out and
// checked by tests. Every wrapper returns an *os.SyscallError naming the
// call, and retries on EINTR where the call is restartable. Code using
// unsafe lives only in *_unsafe.go files here. Add no policy here: callers
// decide what an error means.
package kernel
