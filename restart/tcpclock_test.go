package restart

import (
	"testing"
	"time"

	"stasis/internal/image"
)

// TestTCPClock: the timestamp clock goes on by the time since it was
// read, in milliseconds or (lowest bit set) microseconds, keeping that
// bit; an image without the time of reading, or from the future, keeps
// the clock read.
func TestTCPClock(t *testing.T) {
	at := time.Unix(1000, 0)
	for _, c := range []struct {
		ts    uint32
		at    int64
		now   time.Time
		want  uint32
		about string
	}{
		{1000, at.UnixNano(), at.Add(1500 * time.Millisecond), 2500, "ms"},
		{1001, at.UnixNano(), at.Add(1500 * time.Millisecond), 1001 + 1500000, "usec"},
		{1000, at.UnixNano(), at.Add(1501 * time.Millisecond), 2500, "odd ms count, made even"},
		{0xffffff00, at.UnixNano(), at.Add(time.Second), 744, "wraps"},
		{1000, 0, at, 1000, "no time"},
		{1000, at.UnixNano(), at.Add(-time.Second), 1000, "clock behind"},
	} {
		if got := tcpClock(&image.TCPConn{Timestamp: c.ts, TimestampAt: c.at}, c.now); got != c.want {
			t.Errorf("%s: tcpClock = %d, want %d", c.about, got, c.want)
		}
	}
}
