// Package control is the protocol between an agent (cr_run, cr_restart) and
// those who talk to it: cr_checkpoint, asking for a checkpoint of a job, and
// libcr inside the job, taking part in checkpoints. It owns the socket
// address of an agent, finding the agent of a process, checking the peer on
// both ends (same user, or root; the expected pid), and the messages, which
// are JSON objects one per line. What the agent does with a request is the
// agent's business.
package control
