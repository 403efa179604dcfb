// Package checkpoint saves running processes into an image. It freezes
// every thread of a process with PTRACE_SEIZE and PTRACE_INTERRUPT, reads
// what /proc and ptrace show (registers, signal state, memory map, pages,
// file descriptors), asks the frozen process itself for the rest through
// remote system calls (signal handlers, alternate stacks, timers), streams
// the image in one forward pass, and then lets the process run on or sends
// it the requested signal. Whatever fails, the process is left as it was.
package checkpoint
