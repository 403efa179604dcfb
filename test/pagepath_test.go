package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPagePaths: pagemix's heap holds pages it alone maps (read with
// process_vm_readv), pages shared copy-on-write with its child (read
// through /proc/PID/mem) and zero pages among both (left out), in more
// than one batch and many reads. It is checkpointed with --kill and with
// --run, plain and compressed, and restarted: the program checks every
// page against what it wrote, step after step, before and after; the
// image holds every page that is not zero and none that is.
func TestPagePaths(t *testing.T) {
	pagemix := prog(t, "pagemix")
	for _, mode := range []string{"--kill", "--run"} {
		for _, comp := range []string{"none", "lz4"} {
			t.Run(strings.TrimPrefix(mode, "--")+"-"+comp, func(t *testing.T) { pagePaths(t, pagemix, mode, comp) })
		}
	}
}

// pagemixMiB is pagemix's heap: 6 batches of pages (chunk), and 5 pages.
const pagemixMiB = 48

// pagemixData is how many KiB of pagemix's heap are not zeros (its
// zero_page).
func pagemixData() int64 {
	var n int64
	for i := 0; i < pagemixMiB*256+5; i++ {
		if i%7 != 3 && i%256 >= 40 {
			n += 4
		}
	}
	return n
}

func pagePaths(t *testing.T, pagemix, mode, comp string) {
	hh := newH(t)
	out := hh.path("out.txt")
	steps := seqSpec{stepLine, 1}
	p := hh.startProg("pagemix", []string{pagemix, strconv.Itoa(pagemixMiB)}, out)
	last := hh.waitSeq(out, steps, 3, 60*time.Second, p)
	if len(children(p.pid)) != 1 {
		t.Fatalf("pagemix has %d children, want 1", len(children(p.pid)))
	}
	img := hh.path("img")
	hh.mustCkpt(img, mode, "--compress="+comp, strconv.Itoa(p.pid))
	if mode == "--run" {
		hh.waitSeq(out, steps, last+2, 60*time.Second, p)
		p.kill()
	}
	hh.waitReaped(p, "after cr_checkpoint "+mode)
	waitGroupGone(p.pid, 10*time.Second) // the child too
	reapZombies()
	at := hh.lastSeq(out, steps)

	// Parent and child each hold every page that is not zero (the second
	// half shared: stored once, as root); a zero page stored would be
	// more than both.
	info := hh.run(wait30, bin(t, "cr_info"), img)
	i := strings.Index(info.stdout, "total: ")
	var kib int64
	if i < 0 || !strings.Contains(info.stdout, "all checksums good") {
		t.Fatalf("cr_info %s:\n%s", img, info)
	}
	if _, err := fmt.Sscanf(info.stdout[i:], "total: %d KiB of pages", &kib); err != nil {
		t.Fatalf("cr_info %s: %v\n%s", img, err, info)
	}
	data := pagemixData()
	if kib < data || kib > 2*data+1024 { // and a little for stacks, libc
		t.Fatalf("the image holds %d KiB of pages; the heap has %d KiB that are not zeros in each process", kib, data)
	}
	t.Logf("%d KiB of pages stored, %d KiB of data in each process", kib, data)

	rs := hh.restart("cr_restart", img, p.pid, nil)
	hh.waitRestored(p.pid, rs, 60*time.Second)
	for deadline := time.Now().Add(10 * time.Second); len(children(p.pid)) != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the restored pagemix has %d children, want 1\n%s", len(children(p.pid)), rs.describe())
		}
	}
	// Every step checks every page against what the program wrote.
	hh.waitSeq(out, steps, at+3, 60*time.Second, rs)
	hh.stopRestored(p.pid, rs)
	hh.verifySeq(out, steps, at+3)
}
