package libcr_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"stasis/libcr"
)

// A solver flushes its state before every checkpoint and reopens what it
// must after a restart. Outside cr_run too: cr_checkpoint PID then runs
// the callback itself.
func ExampleRegister() {
	err := libcr.Register(func(e *libcr.Event) {
		// Before the checkpoint: e.Requester, e.Path and e.Scope say who
		// asked and where the image goes. Refuse if the moment is bad:
		if _, err := os.Stat("/tmp/solver-busy"); err == nil {
			e.TempFail("between iterations only") // cr_checkpoint exits 50
			return
		}
		res, err := e.Ready() // the checkpoint is taken here
		if err != nil {
			log.Print("checkpoint failed: ", err)
			return
		}
		if res == libcr.Restarted {
			fmt.Println("restarted from", libcr.RestartedFrom())
		}
	})
	if err != nil {
		fmt.Println("running without callbacks:", err)
		return
	}
	fmt.Println("registered")
	// Output: registered
}

// A checkpoint asked for inside a critical section waits until the
// section is left.
func ExampleEnterCS() {
	if err := libcr.EnterCS(); err != nil {
		fmt.Println(err)
		return
	}
	defer libcr.LeaveCS()
	// ... update files and memory together ...
	fmt.Println("in a critical section")
	// Output: in a critical section
}

// A program checkpoints itself and learns, from the same call, whether it
// is the original running on or a copy restarted from the image.
func ExampleCheckpoint() {
	res, path, err := libcr.Checkpoint(libcr.Options{Path: "solver.img"})
	switch {
	case errors.Is(err, libcr.ErrNoAgent):
		fmt.Println("not under cr_run or cr_restart")
	case errors.Is(err, libcr.ErrTempFail):
		fmt.Println("a callback said not now; try later")
	case err != nil:
		fmt.Println("checkpoint failed:", err)
	case res == libcr.Restarted:
		fmt.Println("resumed from", path)
	default:
		fmt.Println("saved to", path, "and running on")
	}
	// Output: not under cr_run or cr_restart
}

func ExampleCurrentStatus() {
	fmt.Println(libcr.CurrentStatus())
	// Output: idle
}
