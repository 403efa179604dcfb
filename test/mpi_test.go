package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mpiSteps is how long the ring runs: 5-10 s on two cores.
const mpiSteps = 4000

// mpiResult is what mpiring prints for two ranks and steps steps.
func mpiResult(steps int) uint64 {
	h := [2]uint64{1, 2}
	var sum uint64
	for step := 1; step <= steps; step++ {
		got := [2]uint64{h[1], h[0]}
		for r := range h {
			h[r] = h[r]*6364136223846793005 + got[r] + uint64(step)
		}
		sum = h[0] + h[1]
		for r := range h {
			h[r] ^= sum >> 17
		}
	}
	return sum
}

// TestMPI: an Open MPI job and an MPICH one (mpirun -np 2 and hydra's
// mpiexec -n 2 on this machine, each launcher with its ranks, which talk
// over TCP, unix sockets and shared memory), checkpointed as a tree with
// --kill midway and restarted, finish with the answer an uninterrupted
// run gives, every step printed once. As root. Each needs a setting
// (docs/saved.md): Open MPI's debugger-attach FIFO is opened only with
// orte_debugger_check_rate, and UCX is kept to TCP on loopback.
func TestMPI(t *testing.T) {
	needEngine(t)
	for _, impl := range []struct {
		name, mpicc, launcher string
		launch                []string
	}{
		{"openmpi", "mpicc.openmpi", "mpirun.openmpi", []string{"mpirun.openmpi", "--allow-run-as-root", "--oversubscribe", "-np", "2",
			"--mca", "orte_debugger_check_rate", "1000", "--mca", "btl", "self,vader,tcp", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"}},
		{"mpich", "mpicc.mpich", "mpiexec.hydra", []string{"env", "UCX_TLS=self,tcp", "UCX_NET_DEVICES=lo", "mpiexec.hydra", "-n", "2"}},
	} {
		t.Run(impl.name, func(t *testing.T) {
			hh := newH(t)
			for _, cmd := range []string{impl.mpicc, impl.launcher} {
				if _, err := exec.LookPath(cmd); err != nil {
					t.Fatalf("%s is not installed (.ci/run installs it): %v", cmd, err)
				}
			}
			ring := hh.path("mpiring")
			if b, err := exec.Command(impl.mpicc, "-O2", "-o", ring, "progs/mpiring.c").CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", impl.mpicc, err, b)
			}
			out := hh.path("mpi.out")
			p := hh.startProg("mpi", append(impl.launch, ring, strconv.Itoa(mpiSteps)), out)
			stepLine := regexp.MustCompile(`(?m)^step (\d+)$`)
			at := hh.waitNumber(out, stepLine, 500, p)
			tree := append([]int{p.pid}, descendants(p.pid)...)
			img := hh.path("img")
			began := time.Now()
			if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--tree", "--kill", "-f", img, strconv.Itoa(p.pid)); r.code != 0 {
				t.Fatalf("checkpoint at step %d:\n%s", at, r)
			}
			t.Logf("checkpointed %d processes after step %d in %v", len(tree), at, time.Since(began).Round(time.Millisecond))
			hh.waitReaped(p, "checkpointed with --kill")
			for _, d := range tree {
				reap(d, 10*time.Second)
				waitGone(d, 10*time.Second)
			}
			r := hh.restartAs("restart", nil, img)
			t.Cleanup(func() { killRestored(p.pid, r.pid) })
			want := fmt.Sprintf("result %d", mpiResult(mpiSteps))
			hh.waitOutput(out, 2*wait30, "the result", func(b []byte) (bool, error) {
				return strings.Contains(string(b), "result "), nil
			}, r)
			b, _ := os.ReadFile(out)
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if strings.HasPrefix(l, "step ") || strings.HasPrefix(l, "result ") {
					lines = append(lines, l)
				}
			}
			for i, l := range lines[:len(lines)-1] {
				if l != fmt.Sprintf("step %d", 100*(i+1)) {
					t.Fatalf("line %d of the job's output is %q, want step %d:\n%s", i+1, l, 100*(i+1), tail(b, 10))
				}
			}
			if got := lines[len(lines)-1]; got != want || len(lines) != mpiSteps/100+1 {
				t.Fatalf("the job ended with %q after %d steps, want %q after %d:\n%s", got, 100*(len(lines)-1), want, mpiSteps, tail(b, 10))
			}
			if !r.wait(wait30) {
				t.Fatalf("cr_restart did not end with the job\n%s", r.describe())
			}
		})
	}
}
