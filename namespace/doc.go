// Package namespace runs cr_restart inside new namespaces, where a job can
// get back its original pids and thread ids when the caller's pid
// namespace cannot give them: an ordinary user, whom the kernel does not
// let choose pids (clone3 with set_tid needs CAP_CHECKPOINT_RESTORE over
// the pid namespace), or root when a pid the image needs is in use.
//
// The design. cr_restart (the outer one) re-executes its own binary with
// the same arguments as pid 1 of a new pid and mount namespace, and, for an
// ordinary user, of a new user namespace that maps the user's uid and gid
// to themselves (so the job keeps its credentials and files keep their
// owners); the capabilities the restore needs in that user namespace are
// passed across the exec as ambient capabilities. That process (the inner
// cr_restart) first moves the kernel's next pid to the top of the range and
// execs itself once more, so that its own Go threads, which took the
// lowest pids of the namespace, give them back (an image taken in a
// container holds small pids; the restorer stubs are steered up there
// too). It then mounts a /proc of its own pid namespace (its mount namespace
// is a copy of the outer one, made a slave so nothing propagates back),
// restores the image there with the image's pids (pid 1 exists, so
// clone3 may name any other pid, and the inner cr_restart holds
// CAP_CHECKPOINT_RESTORE over the namespace), and becomes the job's agent,
// exactly as a cr_restart without namespaces does. Its checkpoints see
// the job's pids as the job sees them, so an image taken there records
// them and a restart of it gets them again. A time namespace, when the
// clocks need one, is made by the restore inside these namespaces.
//
// The outer cr_restart stays outside as a relay: it forwards the signals
// it receives to the inner one (which forwards them to the job), accepts
// the control connections made to its own socket (@stasis-agent-OUTERPID-*)
// and to the inner agent's, which the inner one hands it, and passes them
// to the inner agent with the peer's uid as seen outside (where root is
// root, not the overflow uid of a user namespace), and exits as the inner
// one exits (if the outer one is
// killed, the kernel kills the inner one, and with it the whole pid
// namespace). The inner agent's socket is named by its pid outside
// (@stasis-agent-PID-*, PID being the job's parent as seen outside), so
// cr_checkpoint finds it by walking up from the job's pid as seen outside;
// pids in requests from outside are translated through the outside /proc
// (the last NSpid column), which the inner agent keeps open. The job sees
// the inner agent as pid 1; it also listens at a name made of its pid
// namespace's identity (control.ListenNamespace), where libcr looks when
// its walk up the process tree ends at pid 1. Pid 1 of a namespace cannot
// die by its own signal, so the inner cr_restart reports the job's wait
// status to the outer one, which ends the same way.
//
// The image of a process that was itself pid 1 of a namespace cannot be
// restored this way: pid 1 is the inner cr_restart.
//
// What an ordinary user cannot do outside a namespace (set /proc/PID/exe,
// choose pids) it can inside; what it could not do before it still cannot
// (raise hard rlimits, make System V segments with chosen ids, take
// another user's credentials).
package namespace
