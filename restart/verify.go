package restart

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"

	"golang.org/x/sys/unix"

	"stasis/internal/image"
)

// The checksums of page data that cr_restart does not read itself (mapped
// from the image, or read by the process in place) are checked here, over
// the image mapped read-only into cr_restart (no copy), on one goroutine
// per core, while the processes are being built; restoreFrom waits for
// every check before any process runs, so a damaged record stops the
// restart instead of reaching the program. Only --unverified skips them.

// verifyWorkers bounds the goroutines that check checksums.
const verifyWorkers = 8

// verifier checks the checksums of payloads of one image file.
type verifier struct {
	f        *os.File
	size     int64
	populate bool // read the whole image ahead when mapping it

	start  sync.Once
	data   []byte // the image mapped read-only; nil until the first check
	jobs   chan func([]byte) error
	wg     sync.WaitGroup
	mu     sync.Mutex
	failed error
	closed sync.Once
}

func newVerifier(f *os.File, size int64, populate bool) *verifier {
	return &verifier{f: f, size: size, populate: populate}
}

// queueCheck skips the payload of the pages record rec, which ir is at,
// and queues the check of its checksum.
func (b *builder) queueCheck(rec image.Record, ir *image.Reader) error {
	check, err := ir.SkipChecked()
	if err != nil {
		return fmt.Errorf("pid %d: pages at %#x: %w", b.pid, rec.Arg, err)
	}
	pid := b.p.Pid
	return b.img.check(rec, func(payload []byte) error {
		if err := check(payload); err != nil {
			return fmt.Errorf("pid %d: pages %#x-%#x: %w (cr_info shows every damaged record)", pid, rec.Arg, rec.Arg+rec.Len, err)
		}
		return nil
	})
}

// check queues c, the check of the payload of rec.
func (v *verifier) check(rec image.Record, c func([]byte) error) error {
	if rec.Offset < 0 || rec.Offset+int64(rec.Len) > v.size {
		return fmt.Errorf("pages at %#x: %w", rec.Arg, image.ErrTruncated)
	}
	var err error
	v.start.Do(func() { err = v.begin() })
	if err != nil {
		return err
	}
	if v.data == nil {
		return errors.New("checking the image: it could not be mapped")
	}
	v.jobs <- func(data []byte) error { return c(data[rec.Offset : rec.Offset+int64(rec.Len)]) }
	return nil
}

// begin maps the image and starts the workers.
func (v *verifier) begin() error {
	flags := unix.MAP_SHARED
	if v.populate {
		flags |= unix.MAP_POPULATE // every payload is read: read ahead all at once
	}
	d, err := unix.Mmap(int(v.f.Fd()), 0, int(v.size), unix.PROT_READ, flags)
	if err != nil {
		return fmt.Errorf("mapping the image %s to check it: %w", v.f.Name(), os.NewSyscallError("mmap", err))
	}
	v.data = d
	n := min(runtime.GOMAXPROCS(0), verifyWorkers)
	v.jobs = make(chan func([]byte) error, 4*batchMax)
	v.wg.Add(n)
	for i := 0; i < n; i++ {
		go v.work()
	}
	return nil
}

// work runs checks until there are no more. A file cut short meanwhile
// faults: that is a panic here, recovered as an error.
func (v *verifier) work() {
	defer v.wg.Done()
	debug.SetPanicOnFault(true)
	defer func() {
		if r := recover(); r != nil {
			v.fail(fmt.Errorf("checking the image %s: %v (was it changed meanwhile?)", v.f.Name(), r))
			for range v.jobs {
			}
		}
	}()
	for c := range v.jobs {
		if err := c(v.data); err != nil {
			v.fail(err)
		}
	}
}

func (v *verifier) fail(err error) {
	v.mu.Lock()
	v.failed = errors.Join(v.failed, err)
	v.mu.Unlock()
}

// wait waits for every check and returns what failed; no check may be
// added after it.
func (v *verifier) wait() error {
	v.closed.Do(func() {
		v.start.Do(func() {}) // no check comes now: begin never runs
		if v.jobs == nil {
			return
		}
		close(v.jobs)
		v.wg.Wait()
		unix.Munmap(v.data)
		v.data = nil
	})
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.failed
}
