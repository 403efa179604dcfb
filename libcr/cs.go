package libcr

import "sync"

// Status is what checkpointing is doing in this process (BLCR's cr_status).
type Status int

const (
	// Idle: no checkpoint in progress.
	Idle Status = iota
	// Pending: a checkpoint waits for critical sections to be left.
	Pending
	// Running: callbacks run, or the image is being taken.
	Running
)

func (s Status) String() string {
	return [...]string{"idle", "pending", "running"}[s]
}

// cs counts critical sections and holds checkpoints back while any is open.
var cs = newSections()

type sections struct {
	mu     sync.Mutex
	cond   *sync.Cond
	open   int
	status Status
}

func newSections() *sections {
	s := &sections{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// begin waits until no critical section is open, then marks a checkpoint
// running, which holds new sections back.
func (s *sections) begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = Pending
	for s.open > 0 {
		s.cond.Wait()
	}
	s.status = Running
}

func (s *sections) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = Idle
	s.cond.Broadcast()
}

// EnterCS enters a critical section (BLCR's cr_enter_cs): no checkpoint of
// this process is taken until every section entered is left. It waits
// while a checkpoint is running (not while one waits for sections to be
// left, so calls nest). Do not call it from a callback: it would wait for
// the checkpoint the callback is part of.
func EnterCS() error {
	if _, err := l.get(); err != nil {
		return err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for cs.status == Running {
		cs.cond.Wait()
	}
	cs.open++
	return nil
}

// TryEnterCS enters a critical section if no checkpoint is pending or
// running, and says whether it did (BLCR's cr_tryenter_cs).
func TryEnterCS() (bool, error) {
	if _, err := l.get(); err != nil {
		return false, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.status != Idle {
		return false, nil
	}
	cs.open++
	return true, nil
}

// LeaveCS leaves a critical section (BLCR's cr_leave_cs); a checkpoint
// waiting for the last one goes ahead.
func LeaveCS() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.open > 0 {
		cs.open--
	}
	cs.cond.Broadcast()
}

// CurrentStatus says what checkpointing is doing in this process (BLCR's
// cr_status).
func CurrentStatus() Status {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.status
}
