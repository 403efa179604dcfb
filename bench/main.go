// Command bench measures stasis against its performance targets and prints
// each figure side by side with what it is compared to, from one run on one
// machine: ratios, not absolute times, are what is judged.
//
//	go run ./bench [--bin DIR] [--runs N] [--verbose] [--only REGEXP]
//
// (make bench builds bin/ first and runs this.) Every benchmark runs, then
// the exit status is 1 if any missed its target or could not be measured.
//
// A benchmark is a function in its own file that returns a result; add it
// to the benchmarks list below.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"
)

// benchmarks run in this order.
var benchmarks = slices.Concat(
	[]benchmark{{"agent overhead", agentOverhead}},
	checkpointBenchmarks(),
	restartBenchmarks(),
	compressBenchmarks(),
	[]benchmark{
		{"restart 1 MiB", smallRestart},
		{"checkpoint through the agent", agentCheckpoint},
	},
	treeBenchmarks(),
	itemBenchmarks(),
)

type cli struct {
	Bin     string `default:"bin" placeholder:"DIR" help:"Where cr_run and the other commands are (make build puts them in bin/)."`
	Runs    int    `default:"25" placeholder:"N" help:"Timed rounds (at least 3); each round runs every side once, and the median of the per-round ratios is reported."`
	Verbose bool   `short:"v" help:"Also print the time of every run."`
	Only    string `placeholder:"REGEXP" help:"Run only the benchmarks whose name matches REGEXP."`
	NoWarm  bool   `help:"Do not touch the free memory first (see warmGuest); for quick runs of a few rows."`
	Plot    string `placeholder:"FILE" help:"Draw the scaling benchmarks' time per item against the number of items to FILE (.png or .svg)."`
}

func main() {
	// Whatever started us may have leaked descriptors (a CI runner's
	// pipe on fd 251): a target inheriting one could not be checkpointed.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "bench: close_range:", err)
		os.Exit(1)
	}
	var c cli
	k := kong.Parse(&c, kong.Name("bench"),
		kong.Description("Measure stasis against its performance targets."))
	if c.Runs < 3 {
		k.Fatalf("--runs must be at least 3, not %d", c.Runs)
	}
	bin, err := filepath.Abs(c.Bin)
	k.FatalIfErrorf(err)
	cfg := &config{bin: bin, runs: c.Runs}
	only, err := regexp.Compile(c.Only)
	k.FatalIfErrorf(err, "--only")

	machine := describeMachine()
	fmt.Println("machine:", machine)
	if !c.NoWarm {
		note, err := warmGuest()
		k.FatalIfErrorf(err)
		fmt.Println("   ", note)
	}
	var curves scalingPlot
	failed, ran := 0, 0
	for _, b := range benchmarks {
		if !only.MatchString(b.name) {
			continue
		}
		ran++
		r, err := b.run(cfg)
		if err != nil {
			fmt.Printf("%s: FAIL: %v\n", b.name, err)
			failed++
			continue
		}
		fmt.Println(r.line(b.name))
		curves.add(b.name, r.curve)
		for _, n := range r.notes {
			fmt.Println("   ", n)
		}
		if c.Verbose {
			for _, d := range r.detail {
				fmt.Println("   ", d)
			}
		}
		if !r.ok() {
			failed++
		}
	}
	switch {
	case c.Plot == "":
	case len(curves.panels) == 0:
		fmt.Println("plot: no scaling benchmark ran;", c.Plot, "left as it was")
	default:
		if err := curves.write(c.Plot, machine); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			failed++
		} else {
			fmt.Println("plot:", c.Plot)
		}
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d of %d benchmarks failed\n", failed, ran)
		os.Exit(1)
	}
}
