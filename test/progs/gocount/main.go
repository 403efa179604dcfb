// Command gocount is a test program for checkpoint/restart of Go programs:
// goroutines, channels, a time.Ticker and a garbage collector that runs.
//
//	gocount [MAX]
//
// Every 50 ms (a time.Ticker) tick N is sent to 8 worker goroutines through
// their channels. Worker w builds a fresh slice 1..N, sums (w+1)*k over it
// and sends the result back on a shared channel; main adds the 8 results
// and checks the total against the closed form 36*N*(N+1)/2 (1+2+...+8 =
// 36). It prints "tick N sum S ok", or "... BAD want W" on a mismatch.
// Workers also keep a ring of recent slices alive and main calls runtime.GC
// every 20 ticks, so the collector runs over a live heap. With MAX > 0 it
// exits after tick MAX (status 1 if any tick was BAD).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

const workers = 8

type result struct {
	worker int
	sum    int64
}

func worker(w int, in <-chan int64, out chan<- result) {
	var keep [16][]int64
	for n := range in {
		s := make([]int64, n)
		for k := range s {
			s[k] = int64(k+1) * int64(w+1)
		}
		keep[n%int64(len(keep))] = s
		var sum int64
		for _, v := range s {
			sum += v
		}
		// Garbage that dies at once.
		junk := make([]byte, 64<<10)
		junk[n%int64(len(junk))] = byte(n)
		out <- result{w, sum + int64(junk[n%int64(len(junk))]) - int64(byte(n))}
	}
}

func main() {
	var max int64
	if len(os.Args) > 1 {
		var err error
		if max, err = strconv.ParseInt(os.Args[1], 10, 64); err != nil {
			fmt.Fprintln(os.Stderr, "gocount:", err)
			os.Exit(2)
		}
	}
	ins := make([]chan int64, workers)
	out := make(chan result, workers)
	for w := range ins {
		ins[w] = make(chan int64, 1)
		go worker(w, ins[w], out)
	}
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	status := 0
	for n := int64(1); max <= 0 || n <= max; n++ {
		<-ticker.C
		for _, in := range ins {
			in <- n
		}
		var sum int64
		seen := 0
		for range workers {
			r := <-out
			seen |= 1 << r.worker
			sum += r.sum
		}
		want := int64(workers*(workers+1)/2) * n * (n + 1) / 2
		if n%20 == 0 {
			runtime.GC()
		}
		var err error
		if sum == want && seen == 1<<workers-1 {
			_, err = fmt.Printf("tick %d sum %d ok\n", n, sum)
		} else {
			status = 1
			_, err = fmt.Printf("tick %d sum %d BAD want %d workers %#x\n", n, sum, want, seen)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gocount:", err)
			os.Exit(1)
		}
	}
	os.Exit(status)
}
