// Package elfcore writes an ELF core file of a process of a stasis image,
// as the kernel would have dumped it at the moment of the checkpoint, so
// that gdb and other debuggers read the image as a core: a PT_LOAD segment
// for every mapping and a PT_NOTE with each thread's registers
// (NT_PRSTATUS, NT_FPREGSET, NT_X86_XSTATE), the process's NT_PRPSINFO,
// NT_SIGINFO, NT_AUXV and NT_FILE. x86-64 only, as images are. It only
// reads images; it never touches a live process.
package elfcore
