// Package scope turns what cr_checkpoint is asked for, an ID and a kind
// (BLCR's -T tree, -p process, -g process group, -s session), into the
// processes to save, parents before children, applying BLCR's policies for
// processes that are traced or trace others and refusing what may not be
// saved: another user's process, a kernel thread, the checkpointer itself.
// Resolution works on a Snapshot of the process table, so it is pure and
// testable; Take reads one from /proc.
package scope
