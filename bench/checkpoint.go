package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"stasis/internal/proc"
)

const (
	// ckptRuns: every timed checkpoint figure is the median of this many
	// runs. Each run of a large size takes seconds, so there are few.
	ckptRuns = 3

	// throughputTarget: cr_checkpoint, with --kill and with --run, writes
	// a program's memory at least 90% as fast as dd writes as many zeros
	// to the same directory (both fsync): the ratio is dd's time over
	// cr_checkpoint's (issue 16).
	throughputTarget = 0.90

	// frozenTarget: a checkpoint with --run stops its target for less than
	// 50 ms per GiB of resident memory.
	frozenTarget = 50

	// zeroImageTarget: the image of a program whose memory is mostly zeros
	// is less than 5% of its resident memory.
	zeroImageTarget = 0.05

	// zeroStrideKiB: the zero program writes one non-zero byte every
	// zeroStrideKiB KiB, so one page in 256 holds data. The image keeps
	// whole pages, each run of them page-aligned after a record header:
	// with a stride of 64 KiB (one page in 16) the image is about 13% of
	// the memory, which no page-granular image can get under 5%.
	zeroStrideKiB = 1024

	// bigMiB is measured only with more than bigMemAvailable bytes of
	// available memory: the program and, on tmpfs, its image are resident.
	bigMiB          = 4096
	bigMemAvailable = 12 << 30

	// pollEvery is how often /proc is looked at while waiting for a state
	// (stopped, restored): it bounds the error of those times.
	pollEvery = time.Millisecond

	// cmdTimeout bounds every command: a 4 GiB checkpoint to a slow disk
	// takes a minute at most.
	cmdTimeout = 5 * time.Minute

	tmpfsMagic = 0x01021994
	ramfsMagic = 0x858458f6
)

// checkpointSizes are the sizes of the fill program, in MiB.
var checkpointSizes = []int{256, 1024, bigMiB}

// checkpointBenchmarks are the benchmarks of cr_checkpoint and cr_restart
// on progs/fill.c, five per size. The first of a size measures all of
// them (fillSize.measure) and the others report from those measurements.
func checkpointBenchmarks() []benchmark {
	var bs []benchmark
	for _, mib := range checkpointSizes {
		f := newFillSize(mib)
		s := sizeName(mib)
		bs = append(bs,
			benchmark{"checkpoint " + s + " random, disk", f.report(throughputDisk)},
			benchmark{"checkpoint " + s + " random, tmpfs", f.report(throughputTmpfs)},
			benchmark{"checkpoint " + s + " random, disk (--run)", f.report(throughputRunDisk)},
			benchmark{"frozen " + s + " random (--run)", f.report(frozen)},
			benchmark{"restart " + s + " random", f.report(restartTime)},
			benchmark{"image " + s + " zero", f.report(zeroImage)},
		)
	}
	return bs
}

// sizeName is "256 MiB" or "1 GiB".
func sizeName(mib int) string {
	if mib >= 1024 && mib%1024 == 0 {
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%d MiB", mib)
}

// fillSize measures one size once, for all of its benchmarks.
type fillSize struct {
	mib int
	measuredOnce[*fillMeasurement]
}

func newFillSize(mib int) *fillSize {
	f := &fillSize{mib: mib}
	f.measuredOnce.measure = f.measure
	return f
}

func (m *fillMeasurement) skip() string { return m.skipped }

// fillMeasurement is every figure of one size.
type fillMeasurement struct {
	mib     int
	skipped string // why nothing was measured

	// The random program, started afresh for each checkpoint with --kill.
	rss  []int64                    // VmRSS once ready, bytes
	ckpt map[string][]time.Duration // cr_checkpoint --kill, by place
	dd   map[string][]time.Duration // dd, by place
	size map[string]int64           // the last image's size, by place
	dirs map[string]string          // where, by place

	tmpfsSkipped string // why there is no "tmpfs" place

	// cr_checkpoint --run on the disk, before each --kill.
	run      []time.Duration // wall time
	stopped  []time.Duration // how long the target was seen stopped, or the wall time
	stopSeen int             // how many of stopped were seen

	restart []time.Duration // cr_restart of the disk image until the program runs

	// The zero program, checkpointed once with --kill to the disk.
	zeroRSS, zeroImage int64
	zeroCkpt           time.Duration
}

const (
	disk  = "disk"
	tmpfs = "tmpfs"
)

// measure runs every measurement of f.mib MiB: ckptRuns rounds of the
// random program on each place (disk, and tmpfs if there is room), and
// one checkpoint of the zero program.
func (f *fillSize) measure(cfg *config) (*fillMeasurement, error) {
	m := &fillMeasurement{mib: f.mib, ckpt: map[string][]time.Duration{}, dd: map[string][]time.Duration{},
		size: map[string]int64{}, dirs: map[string]string{}}
	size := int64(f.mib) << 20
	var err error
	if m.skipped, err = tooBig(f.mib); err != nil || m.skipped != "" {
		return m, err
	}
	avail, err := memAvailable()
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"cr_checkpoint", "cr_restart"} {
		if _, err := exec.LookPath(filepath.Join(cfg.bin, name)); err != nil {
			return nil, fmt.Errorf("%w (run make build first)", err)
		}
	}
	if _, err := exec.LookPath("dd"); err != nil {
		return nil, err
	}

	root, err := diskRoot()
	if err != nil {
		return nil, err
	}
	// The image, or dd's file, and a margin.
	if free, _, err := fsFree(root); err != nil {
		return nil, err
	} else if need := size + 512<<20; free < need {
		if f.mib >= bigMiB {
			m.skipped = fmt.Sprintf("needs %s free in %s, there is %s", gib(need), root, gib(free))
			return m, nil
		}
		return nil, fmt.Errorf("%s has %s free, %s needs %s", root, gib(free), sizeName(f.mib), gib(need))
	}
	work, err := os.MkdirTemp(root, "stasis-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	exe, err := compile(work, "fill")
	if err != nil {
		return nil, err
	}
	places := []string{disk}
	m.dirs[disk] = work
	if free, magic, err := fsFree("/dev/shm"); err != nil {
		m.tmpfsSkipped = err.Error()
	} else if magic != tmpfsMagic && magic != ramfsMagic {
		m.tmpfsSkipped = "/dev/shm is not a tmpfs"
	} else if need := size + 256<<20; free < need {
		m.tmpfsSkipped = fmt.Sprintf("/dev/shm has %s free, needs %s", gib(free), gib(need))
	} else if need := 2*size + 1<<30; avail < need {
		m.tmpfsSkipped = fmt.Sprintf("the program and its image in /dev/shm need %s of memory, there is %s available", gib(need), gib(avail))
	} else {
		shm, err := os.MkdirTemp("/dev/shm", "stasis-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(shm)
		places = append(places, tmpfs)
		m.dirs[tmpfs] = shm
	}

	r := &runner{bin: cfg.bin, work: work, exe: exe}
	defer r.cleanup()
	for i := 0; i < ckptRuns; i++ {
		for _, place := range places {
			if err := r.round(m, place, i%2 == 1); err != nil {
				return nil, fmt.Errorf("%s, %s: %w", sizeName(f.mib), place, err)
			}
		}
	}
	if err := r.zero(m); err != nil {
		return nil, fmt.Errorf("%s, zero: %w", sizeName(f.mib), err)
	}
	return m, nil
}

// runner starts the programs of one size, and kills what is left of them
// in cleanup.
type runner struct {
	bin, work, exe string
	n              int      // programs started, to name their output files
	live           []*child // every program started
}

// round checkpoints a fresh random program into place: first with --run on
// the disk (the frozen time), then with --kill (the throughput), next to
// dd (before the program is started if ddFirst, after the checkpoint
// otherwise, so that neither always goes first); on the disk, it then
// restarts the image.
func (r *runner) round(m *fillMeasurement, place string, ddFirst bool) error {
	dir := m.dirs[place]
	size := int64(m.mib) << 20
	dd := func() error {
		out := filepath.Join(dir, "dd.out")
		d, err := run(exec.Command("dd", "if=/dev/zero", "of="+out, "bs=1M",
			"count="+strconv.Itoa(m.mib), "conv=fsync", "status=none"))
		if err != nil {
			return err
		}
		if fi, err := os.Stat(out); err != nil {
			return err
		} else if fi.Size() != size {
			return fmt.Errorf("dd wrote %d bytes, not %d", fi.Size(), size)
		}
		m.dd[place] = append(m.dd[place], d)
		return os.Remove(out)
	}
	if ddFirst {
		if err := dd(); err != nil {
			return err
		}
	}

	p, err := r.fill("random", m.mib)
	if err != nil {
		return err
	}
	rss, err := proc.ResidentBytes(p.pid)
	if err != nil {
		return err
	}
	m.rss = append(m.rss, rss)
	if place == disk {
		if err := r.frozen(m, p, filepath.Join(dir, "run.img")); err != nil {
			return err
		}
	}
	img := filepath.Join(dir, "img")
	d, imgSize, err := checkpointKill(r, img, p)
	if err != nil {
		return err
	}
	if imgSize < size {
		return fmt.Errorf("the image of %s of random bytes has only %d bytes", sizeName(m.mib), imgSize)
	}
	m.ckpt[place] = append(m.ckpt[place], d)
	m.size[place] = imgSize

	if !ddFirst {
		if err := dd(); err != nil {
			return err
		}
	}
	if place == disk {
		d, err := r.restart(img, p.pid)
		if err != nil {
			return err
		}
		m.restart = append(m.restart, d)
	}
	return os.Remove(img)
}

// frozen checkpoints p with --run into img, watching p's state in /proc
// meanwhile: the time it was stopped is the sum, over the polls that saw
// it in a tracing stop, of the time since the poll before (it may be
// stopped more than once: frozen while its snapshot is taken, then its
// main thread briefly while it reaps the snapshot). If it was never seen
// stopped, the wall time is taken.
func (r *runner) frozen(m *fillMeasurement, p *child, img string) error {
	var total time.Duration
	seen := false
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		prev := time.Now()
		for {
			select {
			case <-quit:
				return
			default:
			}
			st, err := proc.ReadStat(p.pid)
			now := time.Now()
			if err == nil && (st.State == 't' || st.State == 'T') {
				total += now.Sub(prev)
				seen = true
			}
			prev = now
			time.Sleep(pollEvery)
		}
	}()
	wall, err := run(r.cmd("cr_checkpoint", "--run", "-f", img, strconv.Itoa(p.pid)))
	close(quit)
	<-done
	if err != nil {
		return err
	}
	if _, err := os.Stat(img); err != nil {
		return fmt.Errorf("cr_checkpoint --run exited 0 but: %w", err)
	}
	if err := os.Remove(img); err != nil {
		return err
	}
	m.run = append(m.run, wall)
	if !seen {
		m.stopped = append(m.stopped, wall)
	} else {
		m.stopped = append(m.stopped, total)
		m.stopSeen++
	}
	// It must run on: sleeping in pause(), not stopped, not dead.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(pollEvery) {
		st, err := proc.ReadStat(p.pid)
		if err != nil || p.exited() {
			return fmt.Errorf("pid %d did not survive cr_checkpoint --run%s", p.pid, p.describe())
		}
		if st.State == 'S' {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d is in state %c 5s after cr_checkpoint --run", p.pid, st.State)
		}
	}
}

// restart runs cr_restart img and returns the time from just before it
// is started until pid, the restored program, runs: a child of cr_restart,
// not traced, and no longer cr_restart's own code. It then kills the
// program and cr_restart.
func (r *runner) restart(img string, pid int, opts ...string) (time.Duration, error) {
	cmd := r.cmd("cr_restart", append(opts, img)...)
	start := time.Now()
	c, err := r.start(cmd, "cr_restart")
	if err != nil {
		return 0, err
	}
	defer c.stopRestart(pid)
	for deadline := start.Add(cmdTimeout); ; time.Sleep(pollEvery) {
		if restored(pid, c.pid, r.bin) {
			return time.Since(start), nil
		}
		if c.exited() {
			return 0, fmt.Errorf("cr_restart %s ended before restoring pid %d%s", img, pid, c.describe())
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("cr_restart %s did not restore pid %d in %v%s", img, pid, cmdTimeout, c.describe())
		}
	}
}

// restored reports whether pid runs the restored program under cr_restart
// (parent): not the restorer still being traced or running cr_restart's
// code from bin or from a memfd.
func restored(pid, parent int, bin string) bool {
	st, err := proc.ReadStat(pid)
	if err != nil || st.PPid != parent || st.State == 'Z' {
		return false
	}
	if status, err := proc.ReadStatus(pid); err != nil || status.TracerPid != 0 {
		return false
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return exe != "" && !strings.HasPrefix(exe, bin+"/") && !strings.HasPrefix(exe, "/memfd:")
}

// zero checkpoints the zero program once with --kill to the disk.
func (r *runner) zero(m *fillMeasurement) error {
	p, err := r.fill("zero", m.mib)
	if err != nil {
		return err
	}
	if m.zeroRSS, err = proc.ResidentBytes(p.pid); err != nil {
		return err
	}
	img := filepath.Join(m.dirs[disk], "zero.img")
	if m.zeroCkpt, m.zeroImage, err = checkpointKill(r, img, p); err != nil {
		return err
	}
	return os.Remove(img)
}

// checkpointKill checkpoints p into img with --kill, waits for p to be
// gone, and returns how long cr_checkpoint took and the image's size.
func checkpointKill(r *runner, img string, p *child) (time.Duration, int64, error) {
	d, err := run(r.cmd("cr_checkpoint", "--kill", "-f", img, strconv.Itoa(p.pid)))
	if err != nil {
		return 0, 0, err
	}
	if !p.wait(10 * time.Second) {
		return 0, 0, fmt.Errorf("pid %d still running 10s after cr_checkpoint --kill", p.pid)
	}
	fi, err := os.Stat(img)
	if err != nil {
		return 0, 0, fmt.Errorf("cr_checkpoint --kill exited 0 but: %w", err)
	}
	return d, fi.Size(), nil
}

// fill starts progs/fill.c in mode and waits until it is ready.
func (r *runner) fill(mode string, mib int) (*child, error) {
	args := []string{mode, strconv.Itoa(mib)}
	if mode == "zero" {
		args = append(args, strconv.Itoa(zeroStrideKiB))
	}
	p, err := r.start(exec.Command(r.exe, args...), "fill")
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(cmdTimeout); ; time.Sleep(5 * time.Millisecond) {
		out, err := os.ReadFile(p.stdout)
		if err != nil {
			return nil, err
		}
		if string(out) == "ready\n" {
			return p, nil
		}
		if p.exited() {
			return nil, fmt.Errorf("fill %s %d ended before it was ready%s", mode, mib, p.describe())
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("fill %s %d not ready after %v", mode, mib, cmdTimeout)
		}
	}
}

// cmd is a command of bin/.
func (r *runner) cmd(name string, args ...string) *exec.Cmd {
	return exec.Command(filepath.Join(r.bin, name), args...)
}

// child is a program started in the background, in its own process group,
// with its output to files in the work directory.
type child struct {
	cmd            *exec.Cmd
	pid            int
	stdout, stderr string
	done           chan struct{} // closed once it has been waited for
}

// start starts cmd in its own process group, stdin /dev/null, stdout and
// stderr to files, and reaps it when it ends; cleanup kills it.
func (r *runner) start(cmd *exec.Cmd, name string) (*child, error) {
	r.n++
	base := filepath.Join(r.work, fmt.Sprintf("%s-%d", name, r.n))
	c := &child{cmd: cmd, stdout: base + ".stdout", stderr: base + ".stderr", done: make(chan struct{})}
	out, err := os.Create(c.stdout)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	errF, err := os.Create(c.stderr)
	if err != nil {
		return nil, err
	}
	defer errF.Close()
	cmd.Dir, cmd.Stdout, cmd.Stderr = r.work, out, errF
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.pid = cmd.Process.Pid
	r.live = append(r.live, c)
	go func() {
		cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for c to end and be reaped.
func (c *child) wait(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// kill kills c's process group and waits for c. The group outlives its
// leader while a member lives, so its id is not reused meanwhile.
func (c *child) kill() {
	syscall.Kill(-c.pid, syscall.SIGKILL)
	if !c.wait(10 * time.Second) {
		fmt.Fprintf(os.Stderr, "bench: pid %d did not die within 10s of SIGKILL\n", c.pid)
	}
}

// stopRestart kills pid, the program cr_restart (c) restored, if it is
// c's child, so that c exits; then kills c's process group, which the
// program is in, and waits until pid is gone.
func (c *child) stopRestart(pid int) {
	if st, err := proc.ReadStat(pid); err == nil && st.PPid == c.pid {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	c.wait(10 * time.Second)
	c.kill()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(pollEvery) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return
		}
	}
	fmt.Fprintf(os.Stderr, "bench: the restored pid %d is still there 10s after it was killed\n", pid)
}

// describe is how c ended, if it has, and its stderr, for errors.
func (c *child) describe() string {
	s := ""
	if c.exited() {
		s = " (" + c.cmd.ProcessState.String() + ")"
	}
	errText, _ := os.ReadFile(c.stderr)
	return s + quoteOutput(errText)
}

// cleanup kills every program still running.
func (r *runner) cleanup() {
	for _, c := range r.live {
		c.kill()
	}
}

// run runs cmd to completion in its own process group, killing the group
// after cmdTimeout, and returns its wall time from just before it is
// started to just after it has been waited for. It must exit with 0.
func run(cmd *exec.Cmd) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 5 * time.Second
	start := time.Now()
	err := c.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w%s", strings.Join(cmd.Args, " "), err, quoteOutput(append(stdout.Bytes(), stderr.Bytes()...)))
	}
	return d, nil
}

// The reports.

func throughputDisk(m *fillMeasurement) result  { return throughput(m, disk, m.ckpt[disk], "--kill") }
func throughputTmpfs(m *fillMeasurement) result { return throughput(m, tmpfs, m.ckpt[tmpfs], "--kill") }

// throughputRunDisk is the --run checkpoint of each round (frozen), to the
// disk, against that round's dd.
func throughputRunDisk(m *fillMeasurement) result { return throughput(m, disk, m.run, "--run") }

// throughput compares ck, the times of cr_checkpoint MODE to place, with
// dd's there.
func throughput(m *fillMeasurement, place string, ck []time.Duration, mode string) result {
	if place == tmpfs && m.tmpfsSkipped != "" {
		return result{skipped: m.tmpfsSkipped}
	}
	dd := m.dd[place]
	rate := func(bytes int64, d time.Duration) float64 { return float64(bytes) / (1 << 20) / d.Seconds() }
	return result{
		figures: fmt.Sprintf("dd %s  cr_checkpoint %s", secs(median(dd)), secs(median(ck))),
		ratio:   pairedRatio(ck, dd),
		target:  throughputTarget,
		cmp:     atLeast,
		notes: []string{fmt.Sprintf("cr_checkpoint %s %.0f MiB/s (image %s), dd conv=fsync %.0f MiB/s, in %s",
			mode, rate(m.size[place], median(ck)), mibs(m.size[place]), rate(int64(m.mib)<<20, median(dd)), m.dirs[place])},
		detail: []string{
			fmt.Sprintf("%-14s %s", "dd:", runList(dd)),
			fmt.Sprintf("%-14s %s", "cr_checkpoint:", runList(ck)),
		},
	}
}

func frozen(m *fillMeasurement) result {
	rss := medianInt(m.rss)
	stopped := median(m.stopped)
	r := result{
		figures: fmt.Sprintf("cr_checkpoint --run %s  stopped %s  RSS %s", secs(median(m.run)), secs(stopped), mibs(rss)),
		ratio:   perGiB(stopped, rss),
		unit:    "ms/GiB",
		target:  frozenTarget,
		cmp:     below,
		notes: []string{fmt.Sprintf("stopped: the polls of /proc (every %v) that found the target in a tracing stop, each counting the time since the one before; image to %s",
			pollEvery, m.dirs[disk])},
		detail: []string{
			fmt.Sprintf("%-22s %s", "cr_checkpoint --run:", runList(m.run)),
			fmt.Sprintf("%-22s %s", "stopped:", runList(m.stopped)),
		},
	}
	if n := len(m.stopped) - m.stopSeen; n > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d of %d runs never showed the target stopped: their wall time is counted instead", n, len(m.stopped)))
	}
	return r
}

func restartTime(m *fillMeasurement) result {
	rss := medianInt(m.rss)
	return result{
		figures: fmt.Sprintf("cr_restart %s  RSS %s", secs(median(m.restart)), mibs(rss)),
		ratio:   perGiB(median(m.restart), rss),
		unit:    "ms/GiB",
		notes: []string{fmt.Sprintf("from starting cr_restart until the program runs untraced as its child; image in %s, just written (in the page cache)",
			m.dirs[disk])},
		detail: []string{fmt.Sprintf("%-11s %s", "cr_restart:", runList(m.restart))},
	}
}

func zeroImage(m *fillMeasurement) result {
	return result{
		figures: fmt.Sprintf("image %s  RSS %s", mibs(m.zeroImage), mibs(m.zeroRSS)),
		ratio:   float64(m.zeroImage) / float64(m.zeroRSS),
		target:  zeroImageTarget,
		cmp:     below,
		notes: []string{fmt.Sprintf("every page written, one non-zero byte per %d KiB; cr_checkpoint --kill %s",
			zeroStrideKiB, secs(m.zeroCkpt))},
	}
}

// perGiB is d in milliseconds per GiB of bytes.
func perGiB(d time.Duration, bytes int64) float64 {
	return float64(d) / float64(time.Millisecond) / (float64(bytes) / (1 << 30))
}

// medianInt is the median of ns (the lower middle one if their number is
// even).
func medianInt(ns []int64) int64 {
	s := slices.Clone(ns)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// mibs formats bytes as "1024.6 MiB".
func mibs(bytes int64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }

// gib formats bytes as "11.5 GiB".
func gib(bytes int64) string { return fmt.Sprintf("%.1f GiB", float64(bytes)/(1<<30)) }

// The machine.

// diskRoot is a directory on a disk (not a tmpfs) to write images in:
// /var/tmp, or else the temporary directory.
func diskRoot() (string, error) {
	for _, dir := range []string{"/var/tmp", os.TempDir()} {
		_, magic, err := fsFree(dir)
		if err == nil && magic != tmpfsMagic && magic != ramfsMagic && syscall.Access(dir, 2 /* W_OK */) == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("neither /var/tmp nor %s is a writable directory on a disk", os.TempDir())
}

// fsFree returns the bytes free (to us) in the file system of path, and
// its type.
func fsFree(path string) (free int64, magic int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Type), nil
}

// memAvailable is MemAvailable of /proc/meminfo, in bytes.
func memAvailable() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			return kB(v)
		}
	}
	return 0, errors.New("/proc/meminfo has no MemAvailable")
}

// kB parses "  1049964 kB" into bytes.
func kB(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a size in kB: %q", v)
	}
	return n << 10, nil
}
