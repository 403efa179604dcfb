package elfcore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"stasis/internal/image"
)

// fillFiles writes the pages of file-backed mappings that the image does
// not hold (the file's own pages: text, read-only data) from the file, or
// from the image's copy when it was saved with --save-*. A file that
// cannot be read leaves its pages out, with a note.
func (c *core) fillFiles(saved map[int]string) error {
	saveOf := map[int]bool{}
	for _, f := range c.p.Files {
		if f.Saved {
			saveOf[f.ID] = true
		}
	}
	for i, v := range c.vmas {
		if v.Kind != image.VMAFile || c.off[i] < 0 {
			continue
		}
		path := v.Path
		if saveOf[v.File] && saved[v.File] != "" {
			path = saved[v.File]
		}
		f, err := os.Open(path)
		if err != nil {
			c.notes = append(c.notes, fmt.Sprintf("pid %d: %#x-%#x: %v: its pages are left out (zeros)", c.p.Pid, v.Start, v.End, err))
			continue
		}
		err = c.fillRange(i, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// fillRange copies into mapping i what of file f it maps, where the image
// gave nothing.
func (c *core) fillRange(i int, f *os.File) error {
	v := c.vmas[i]
	cov := slices.Clone(c.covered[i])
	slices.SortFunc(cov, func(a, b [2]uint64) int {
		if a[0] < b[0] {
			return -1
		}
		return 1
	})
	buf := make([]byte, 1<<20)
	at := v.Start
	gap := func(from, to uint64) error {
		for from < to {
			n := min(to-from, uint64(len(buf)))
			k, err := f.ReadAt(buf[:n], int64(v.Offset+from-v.Start))
			if k > 0 {
				if _, werr := c.f.WriteAt(buf[:k], c.off[i]+int64(from-v.Start)); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) {
				return nil // past the end of the file: zeros, as the kernel gives (or SIGBUS)
			}
			if err != nil {
				return err
			}
			from += uint64(k)
		}
		return nil
	}
	for _, r := range cov {
		if r[0] > at {
			if err := gap(at, r[0]); err != nil {
				return err
			}
		}
		at = max(at, r[1])
	}
	return gap(at, v.End)
}

// fillVdso gives the [vdso] mapping this machine's vDSO, which is the
// image's when it was made by the same kernel (a restart checks that it
// is the same size): gdb reads it to unwind through signal frames.
func (c *core) fillVdso() error {
	for i, v := range c.vmas {
		if v.Kind != image.VMAVdso {
			continue
		}
		start, end, err := ownVdso()
		if err != nil || end-start != v.End-v.Start {
			c.notes = append(c.notes, fmt.Sprintf("pid %d: [vdso]: this machine's differs in size: left out (zeros)", c.p.Pid))
			return nil
		}
		mem, err := os.Open("/proc/self/mem")
		if err != nil {
			return err
		}
		b := make([]byte, end-start)
		_, err = mem.ReadAt(b, int64(start))
		mem.Close()
		if err != nil {
			return fmt.Errorf("[vdso] of this process: %w", err)
		}
		_, err = c.f.WriteAt(b, c.off[i])
		return err
	}
	return nil
}

func ownVdso() (start, end uint64, err error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasSuffix(line, "[vdso]") {
			continue
		}
		a, b, _ := strings.Cut(strings.Fields(line)[0], "-")
		s, err1 := strconv.ParseUint(a, 16, 64)
		e, err2 := strconv.ParseUint(b, 16, 64)
		return s, e, errors.Join(err1, err2)
	}
	return 0, 0, errors.New("no [vdso] in /proc/self/maps")
}
