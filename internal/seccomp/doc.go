// Package seccomp holds the system-call filter that cr_run's shim installs
// in a job: which calls create kernel objects an image cannot hold, the BPF
// program that sends just those to the agent (or refuses them with ENOSYS),
// installing it in the calling thread or describing it for a remote install
// on restart, and receiving and answering the listener's notifications.
// Policy (what to record, what to tell the user) belongs to the agent.
package seccomp
