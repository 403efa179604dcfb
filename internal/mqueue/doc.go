// Package mqueue reads the messages of a POSIX message queue without
// losing them. The kernel has no way to look at a queued message without
// taking it, so a reader takes every message and queues it again; this
// package has a helper process do it, which a checkpointer or restarter
// killed meanwhile does not take with it. Importing the package makes a
// stasis command that helper when its environment says so.
package mqueue
