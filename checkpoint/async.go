package checkpoint

import (
	"io"
	"sync"
)

// asyncWriter writes to w from a goroutine of its own, so that reading the
// next pages overlaps writing the last ones. Write copies the data and
// returns at once while fewer than depth buffers are in flight; a write
// error is returned by a later Write or by Close.
type asyncWriter struct {
	w    io.Writer
	ch   chan []byte
	free chan []byte
	done chan struct{}
	mu   sync.Mutex
	err  error
}

const asyncDepth = 4

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{w: w, ch: make(chan []byte, asyncDepth), free: make(chan []byte, asyncDepth), done: make(chan struct{})}
	for i := 0; i < asyncDepth; i++ {
		a.free <- nil
	}
	go func() {
		defer close(a.done)
		for b := range a.ch {
			if a.failed() == nil {
				if _, err := a.w.Write(b); err != nil {
					a.mu.Lock()
					a.err = err
					a.mu.Unlock()
				}
			}
			a.free <- b[:0]
		}
	}()
	return a
}

func (a *asyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if err := a.failed(); err != nil {
		return 0, err
	}
	b := <-a.free
	b = append(b, p...)
	a.ch <- b
	return len(p), nil
}

// Close waits for every write and returns the first error.
func (a *asyncWriter) Close() error {
	close(a.ch)
	<-a.done
	return a.failed()
}
