// Package libcr lets a Go program take part in its own checkpoints when it
// runs under cr_run or cr_restart, with BLCR's meanings:
//
//   - Register adds a callback that runs before every checkpoint of the
//     process. The callback calls, on the Event it is given, one of Ready (the checkpoint may
//     go on; Ready returns, once it is over, whether the process continued
//     or was restarted from the image), TempFail (not now: the checkpoint
//     is cancelled and cr_checkpoint exits with BLCR's CR_ETEMPFAIL status,
//     50), PermFail (the checkpoint is cancelled and the job killed) or
//     Omit (leave this process out).
//   - EnterCS, TryEnterCS and LeaveCS bracket critical sections: a
//     checkpoint requested inside one waits until the last is left.
//   - Checkpoint asks for a checkpoint of this process (or its whole job)
//     and returns, in the same call, Continued in the original and
//     Restarted in a copy restarted from the image (DragonFly's
//     sys_checkpoint).
//
// The first call connects to the agent; a program that never calls libcr
// is checkpointed exactly as one that does not import it. After a restart
// the library finds itself connected to the new agent. Outside an agent
// the library listens for cr_checkpoint, which then runs the callbacks
// itself (docs/libcr-protocol.md); only Checkpoint needs an agent and
// returns ErrNoAgent without one.
package libcr
