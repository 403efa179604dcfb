// Package restart rebuilds processes from an image. It starts the restorer
// stub (package stub) under ptrace, has it clone3 a process with the
// original pid, and then, one system call at a time run through the stub's
// syscall instruction, tears down the stub's address space, maps every
// VMA of the image, fills its pages, rebuilds file descriptors, signal
// state, timers and threads, and finally gives every thread its saved
// registers and lets it go. A restore that fails kills what it built: no
// half-built process is ever left running.
package restart
