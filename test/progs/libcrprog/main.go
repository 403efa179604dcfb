// libcrprog exercises every libcr call under cr_run and cr_restart. It
// appends everything it sees to ./libcrprog.log (O_APPEND, so a copy
// restarted from an older image appends too):
//
//	tick N                       every 20 ms; N lives only in memory
//	callback N requester=P path=F status=S tryenter=B
//	callback N after: RESULT [error]
//	callback N tempfail          when ./tempfail exists (also omit, permfail)
//	cs entered / cs left         on SIGUSR1: a 1.5 s critical section
//	self: RESULT PATH [error]    on SIGUSR2: libcr.Checkpoint to ./self.img
//	restarted-from: PATH         after a restart
//
// It ends after 60 s, so a lost test cannot leave it behind for long.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"stasis/libcr"
)

var (
	log *os.File
	mu  sync.Mutex
)

func say(format string, args ...any) {
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(log, format+"\n", args...)
}

func main() {
	var err error
	log, err = os.OpenFile("libcrprog.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n := 0
	err = libcr.Register(func(e *libcr.Event) {
		n++
		ok, _ := libcr.TryEnterCS()
		if ok {
			libcr.LeaveCS()
		}
		say("callback %d requester=%d path=%s status=%v tryenter=%v", n, e.Requester, e.Path, libcr.CurrentStatus(), ok)
		if _, err := os.Stat("tempfail"); err == nil {
			say("callback %d tempfail: %v", n, e.TempFail("the test asked for it"))
			return
		}
		if _, err := os.Stat("omit"); err == nil {
			say("callback %d omit: %v", n, e.Omit())
			return
		}
		if _, err := os.Stat("permfail"); err == nil {
			say("callback %d permfail: %v", n, e.PermFail("the test asked for it"))
			return
		}
		res, err := e.Ready()
		say("callback %d after: %v %v", n, res, err)
		if res == libcr.Restarted {
			say("restarted-from: %s", libcr.RestartedFrom())
		}
	})
	if err != nil {
		say("register: %v", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for s := range sigs {
			switch s {
			case syscall.SIGUSR1:
				if err := libcr.EnterCS(); err != nil {
					say("cs: %v", err)
					continue
				}
				say("cs entered")
				time.Sleep(1500 * time.Millisecond)
				say("cs left")
				libcr.LeaveCS()
			case syscall.SIGUSR2:
				res, path, err := libcr.Checkpoint(libcr.Options{Path: "self.img"})
				say("self: %v %s %v", res, path, err)
			}
		}
	}()
	say("ready")
	end := time.Now().Add(60 * time.Second)
	for tick := 1; time.Now().Before(end); tick++ {
		say("tick %d", tick)
		time.Sleep(20 * time.Millisecond)
	}
}
