package compress

import (
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// frameSize is how much of the stream each zstd frame holds.
const frameSize = 4 << 20

// frames compresses a stream as a sequence of independent zstd frames of
// frameSize bytes each, as many at once as there are CPUs, and writes them
// in order: a zstd stream may be any number of frames one after another,
// and every zstd reader reads it as one. klauspost's streaming encoder
// keeps one block in flight, so with it a checkpoint used about one core
// for compression where `zstd -T0` uses all; EncodeAll of separate frames
// has no such limit. The frames carry no checksum of their own: the
// image's records have theirs.
type frames struct {
	enc   *zstd.Encoder
	w     io.Writer
	cur   []byte
	order chan *frame   // frames in stream order, to the writing goroutine
	slots chan struct{} // one per frame being compressed or waiting to be written
	done  chan struct{} // closed when the writing goroutine ends
	err   error         // the writing goroutine's first error (read after done, or under mu)
	mu    sync.Mutex
	pool  sync.Pool
}

type frame struct {
	in, out []byte
	ready   chan struct{}
}

func newFrames(w io.Writer) (*frames, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	n := runtime.GOMAXPROCS(0)
	f := &frames{enc: enc, w: w, order: make(chan *frame, 2*n), slots: make(chan struct{}, 2*n),
		done: make(chan struct{})}
	go f.write()
	return f, nil
}

// write writes the frames out as each is ready, in order.
func (f *frames) write() {
	defer close(f.done)
	for fr := range f.order {
		<-fr.ready
		if f.failed() == nil {
			if _, err := f.w.Write(fr.out); err != nil {
				f.mu.Lock()
				f.err = err
				f.mu.Unlock()
			}
		}
		f.pool.Put(fr.in[:0])
		<-f.slots
	}
}

func (f *frames) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *frames) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if err := f.failed(); err != nil {
			return n - len(p), err
		}
		if f.cur == nil {
			if b, ok := f.pool.Get().([]byte); ok {
				f.cur = b
			} else {
				f.cur = make([]byte, 0, frameSize)
			}
		}
		take := min(len(p), frameSize-len(f.cur))
		f.cur = append(f.cur, p[:take]...)
		p = p[take:]
		if len(f.cur) == frameSize {
			f.send()
		}
	}
	return n, nil
}

// send hands the current frame to a compressing goroutine, waiting while
// every slot is taken.
func (f *frames) send() {
	fr := &frame{in: f.cur, ready: make(chan struct{})}
	f.cur = nil
	f.slots <- struct{}{}
	f.order <- fr
	go func() {
		fr.out = f.enc.EncodeAll(fr.in, make([]byte, 0, len(fr.in)/2))
		close(fr.ready)
	}()
}

// Close compresses and writes what is left, and waits until every frame is
// written.
func (f *frames) Close() error {
	if len(f.cur) > 0 {
		f.send()
	}
	close(f.order)
	<-f.done
	return f.err
}
