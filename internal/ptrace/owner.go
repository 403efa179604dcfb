package ptrace

import "runtime"

// Owner runs closures on one locked OS thread, the tracer of every tracee.
type Owner struct {
	reqs chan func()
}

// NewOwner starts the owner thread. It lives until the process exits.
func NewOwner() *Owner {
	o := &Owner{reqs: make(chan func())}
	ready := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		close(ready)
		for f := range o.reqs {
			f()
		}
	}()
	<-ready
	return o
}

// Do runs f on the owner thread and returns its error.
func (o *Owner) Do(f func() error) error {
	done := make(chan error, 1)
	o.reqs <- func() { done <- f() }
	return <-done
}
