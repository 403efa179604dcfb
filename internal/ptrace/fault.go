package ptrace

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// faultEnv names a fault the tests inject: "N:STEP" kills this process
// with SIGKILL at step STEP of its Nth rescued remote call (steps below),
// so that each moment at which a checkpointer can die is tried on
// purpose rather than by chance.
const faultEnv = "STASIS_TEST_KILL_AT"

// The steps of a rescued call, in order.
const (
	stepRegs  = 1 + iota // the call's registers are set
	stepMask             // every signal is blocked
	stepEntry            // the thread stopped at the call's entry
	stepExit             // the thread stopped at its exit
	// The call is over: the thread's own mask is back (its registers
	// next), or, chained (Remote.Chain), the next call in the same thread
	// is about to be set up, the thread still stopped at this one's exit.
	stepDone
)

var faultCall, faultStep, calls = func() (int, int, int) {
	var n, step int
	if v := os.Getenv(faultEnv); v != "" {
		fmt.Sscanf(v, "%d:%d", &n, &step)
	}
	return n, step, 0
}()

// fault kills us if this is the step of the call the test asked for.
func fault(step int) {
	if faultCall > 0 && calls == faultCall && step == faultStep {
		unix.Kill(os.Getpid(), unix.SIGKILL)
		select {} // never resumed
	}
}
