package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemo: make demo's script succeeds from a shell that leaks a pipe on
// fd 251 (it closes what it does not pass on), and when its checkpoint
// fails (a cr_checkpoint that only exits 1) it prints FAILED with the
// reason and exits non-zero within 10 s instead of waiting on its counter.
func TestDemo(t *testing.T) {
	needEngine(t)
	hh := newH(t)
	script, err := filepath.Abs("../scripts/demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Dir(bin(t, "cr_restart"))
	leaky := `exec 251> >(cat >/dev/null); STASIS_BIN=$1 exec bash "$2"`
	if r := hh.run(wait30, "bash", "-c", leaky, "leaky", real, script); r.code != 0 || !strings.Contains(r.stdout, "demo: OK") {
		t.Errorf("the demo from a shell leaking fd 251:\n%s", r)
	}
	fake := hh.path("fakebin")
	os.Mkdir(fake, 0o755)
	os.Symlink(filepath.Join(real, "cr_restart"), filepath.Join(fake, "cr_restart"))
	os.WriteFile(filepath.Join(fake, "cr_checkpoint"), []byte("#!/bin/sh\necho 'cr_checkpoint: forced failure' >&2\nexit 1\n"), 0o755)
	start := time.Now()
	r := hh.run(wait30, "bash", "-c", leaky, "leaky", fake, script)
	took := time.Since(start)
	if r.code == 0 || !strings.Contains(r.stderr, "FAILED") || !strings.Contains(r.stderr, "forced failure") || took > 10*time.Second {
		t.Errorf("the demo with a failing checkpoint (took %v): want FAILED and the reason, non-zero, within 10 s:\n%s", took.Round(time.Millisecond), r)
	}
}
