package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// compressMiB is the memory of the program whose image is compressed
	// (issue 16: an image of 4 GiB); measured only with as much memory
	// as the other big size.
	compressMiB = bigMiB

	// compressTarget: cr_checkpoint --compress=KIND compresses its image
	// at least 90% as fast as KIND's own command compresses the same bytes
	// (the command's time over cr_checkpoint's).
	compressTarget = 0.9
)

// A compressor is a --compress kind and the command it is compared to,
// with the arguments that compress in into out.
type compressor struct {
	kind, command, pkg string
	args               func(in, out string) []string
}

// compressors: zstd -T0 (every core, its default level 3) and lz4 (its
// default level 1; version 1.9 compresses on one core).
var compressors = []compressor{
	{"zstd", "zstd", "zstd", func(in, out string) []string { return []string{"-T0", "-q", "-f", in, "-o", out} }},
	{"lz4", "lz4", "lz4", func(in, out string) []string { return []string{"-q", "-f", in, out} }},
}

// compressBenchmarks are the compressed checkpoints of a program of
// compressMiB against the commands.
func compressBenchmarks() []benchmark {
	c := &compressScale{}
	c.measuredOnce.measure = c.measure
	var bs []benchmark
	for _, k := range compressors {
		bs = append(bs, benchmark{fmt.Sprintf("checkpoint %s --compress=%s against %s", sizeName(compressMiB), k.kind, k.command),
			c.report(func(m *compressMeasurement) result { return compressResult(m, k) })})
	}
	return bs
}

type compressScale struct {
	measuredOnce[*compressMeasurement]
}

// compressMeasurement is every figure of the compression benchmarks.
type compressMeasurement struct {
	skipped string
	dir     string
	raw     int64 // the uncompressed image, bytes
	rawCkpt time.Duration

	ckpt, cli         map[string][]time.Duration // by kind
	ckptSize, cliSize map[string]int64           // the last one, by kind
}

func (m *compressMeasurement) skip() string { return m.skipped }

// measure starts progs/fill.c half (every page's second half repeats its
// first) of compressMiB, writes its uncompressed image with --run to
// tmpfs once, then in a warm-up round and timedRuns rounds checkpoints
// it with --run and each --compress, and compresses the uncompressed
// image with each command, to tmpfs too, side by side (who goes first
// takes turns).
func (c *compressScale) measure(cfg *config) (*compressMeasurement, error) {
	m := &compressMeasurement{ckpt: map[string][]time.Duration{}, cli: map[string][]time.Duration{},
		ckptSize: map[string]int64{}, cliSize: map[string]int64{}}
	if err := compressCommands(); err != nil {
		return nil, err
	}
	size := int64(compressMiB) << 20
	var err error
	if m.skipped, err = tooBig(compressMiB); err != nil || m.skipped != "" {
		return m, err
	}
	// The program, its image and one compressed copy, in memory.
	if avail, err := memAvailable(); err != nil {
		return nil, err
	} else if need := 3*size + 1<<30; avail < need {
		m.skipped = fmt.Sprintf("the program, its image and a compressed one in /dev/shm need %s of memory, there is %s available", gib(need), gib(avail))
		return m, nil
	}
	r, done, err := shmRunner(cfg, "fill")
	if err != nil {
		return nil, err
	}
	defer done()
	m.dir = r.work
	p, err := r.fill("half", compressMiB)
	if err != nil {
		return nil, err
	}
	pid := strconv.Itoa(p.pid)
	raw := filepath.Join(r.work, "raw.img")
	if m.rawCkpt, err = run(r.cmd("cr_checkpoint", "--run", "-f", raw, pid)); err != nil {
		return nil, err
	}
	if m.raw, err = fileSize(raw); err != nil {
		return nil, err
	}
	for i := -1; i < timedRuns(cfg); i++ {
		for _, k := range compressors {
			out := filepath.Join(r.work, "out."+k.kind)
			stasis := func() (time.Duration, int64, error) {
				return timeInto(out, r.cmd("cr_checkpoint", "--run", "--compress="+k.kind, "-f", out, pid))
			}
			command := func() (time.Duration, int64, error) {
				return timeInto(out, exec.Command(k.command, k.args(raw, out)...))
			}
			first, second := stasis, command
			if i%2 != 0 {
				first, second = command, stasis
			}
			d1, s1, err := first()
			if err != nil {
				return nil, err
			}
			d2, s2, err := second()
			if err != nil {
				return nil, err
			}
			if i%2 != 0 {
				d1, s1, d2, s2 = d2, s2, d1, s1
			}
			if i >= 0 {
				m.ckpt[k.kind], m.cli[k.kind] = append(m.ckpt[k.kind], d1), append(m.cli[k.kind], d2)
				m.ckptSize[k.kind], m.cliSize[k.kind] = s1, s2
			}
		}
	}
	return m, nil
}

// compressCommands says which of the compressors' commands are missing,
// and the packages that have them.
func compressCommands() error {
	var missing, pkgs []string
	for _, k := range compressors {
		if _, err := exec.LookPath(k.command); err != nil {
			missing, pkgs = append(missing, k.command), append(pkgs, k.pkg)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the compressed checkpoints are compared with the %v commands, which are not installed (packages %v)", missing, pkgs)
	}
	return nil
}

// timeInto runs cmd, which writes the file out, and returns its wall time
// and out's size, and removes out.
func timeInto(out string, cmd *exec.Cmd) (time.Duration, int64, error) {
	d, err := run(cmd)
	if err != nil {
		return 0, 0, err
	}
	size, err := fileSize(out)
	if err != nil {
		return 0, 0, fmt.Errorf("%s exited 0 but: %w", cmd.Args[0], err)
	}
	return d, size, os.Remove(out)
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// compressResult judges cr_checkpoint --compress=k.kind against k's
// command: the rate of each in MiB of the uncompressed image per second,
// and the size of what each wrote over the uncompressed image.
func compressResult(m *compressMeasurement, k compressor) result {
	ck, cli := m.ckpt[k.kind], m.cli[k.kind]
	rate := func(d time.Duration) float64 { return float64(m.raw) / (1 << 20) / d.Seconds() }
	ratio, lo, hi := ratioSpread(ck, cli)
	command := k.command + " " + strings.Join(k.args("IMAGE", "OUT"), " ")
	return result{
		figures: fmt.Sprintf("%s %s  cr_checkpoint --compress=%s %s", k.command, spread(cli), k.kind, spread(ck)),
		ratio:   ratio,
		target:  compressTarget,
		cmp:     atLeast,
		notes: []string{
			fmt.Sprintf("rates, in MiB of the uncompressed image (%s) per second: cr_checkpoint --run --compress=%s %.0f MiB/s, %s %.0f MiB/s; size over the uncompressed image: cr_checkpoint %.3f, %s %.3f",
				mibs(m.raw), k.kind, rate(median(ck)), k.command, rate(median(cli)), float64(m.ckptSize[k.kind])/float64(m.raw), k.command, float64(m.cliSize[k.kind])/float64(m.raw)),
			fmt.Sprintf("ratio: %s's time over cr_checkpoint's, the median of %d rounds after a warm-up (%.3f-%.3f); the program: progs/fill.c half, %s whose every page's second half repeats its first; %s compresses the uncompressed image (cr_checkpoint --run, %s) from and to %s (tmpfs), as cr_checkpoint writes there",
				k.command, len(ck), lo, hi, sizeName(compressMiB), command, secs(m.rawCkpt), m.dir),
		},
		detail: []string{
			fmt.Sprintf("%-14s %s", k.command+":", runList(cli)),
			fmt.Sprintf("%-14s %s", "cr_checkpoint:", runList(ck)),
		},
	}
}
