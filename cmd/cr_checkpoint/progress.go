package main

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// bar shows a checkpoint's progress on stderr, once it has taken more
// than a moment: bytes written against the memory the processes hold.
type bar struct {
	start    time.Time
	resident int64
	what     string
	written  int64
	b        *progressbar.ProgressBar
}

func (p *bar) Start(resident int64, pids []int) {
	p.start, p.resident = time.Now(), resident
	p.what = fmt.Sprintf("pid %d", pids[0])
	if len(pids) > 1 {
		p.what = fmt.Sprintf("%d processes", len(pids))
	}
}

func (p *bar) Add(n int) {
	p.written += int64(n)
	if p.b == nil {
		if time.Since(p.start) < 300*time.Millisecond {
			return
		}
		p.b = progressbar.NewOptions64(p.resident, progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionShowBytes(true), progressbar.OptionSetDescription("saving "+p.what),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		p.b.Set64(p.written)
		return
	}
	p.b.Add(n)
}

func (p *bar) Done() {
	if p.b != nil {
		p.b.Finish()
	}
}
