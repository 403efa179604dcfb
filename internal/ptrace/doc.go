// Package ptrace owns every tracee of a stasis command. The kernel accepts
// ptrace requests for a tracee only from the OS thread that attached it, so
// one goroutine, locked to its OS thread for its whole life, runs every
// request: callers hand it closures through Owner.Do. On top of that this
// package freezes threads (PTRACE_SEIZE + PTRACE_INTERRUPT), reads their
// memory, and runs system calls inside a stopped thread ("remote syscalls")
// through a syscall instruction that already exists in it or, in a live
// process whose tracer may be killed, from rescue code written into its
// vDSO's unused tail, which puts the thread back as it was if it is let go
// mid-call. It knows nothing of images: it moves registers and bytes, and
// callers give them meaning.
package ptrace
