package batch

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// maxScript bounds a job script run with cr_job as its interpreter: its
// text goes to bash as an argument, which the kernel limits too.
const maxScript = 256 << 10

// Script says whether prog is a job script that names cr_job as its
// interpreter (#!/usr/bin/env cr_job, #!/usr/bin/env -S cr_job --interval
// 1h, #!/path/to/cr_job); the kernel then ran cr_job with the script's
// path as prog. If so it returns the script's text. A file that cannot be
// read, or has another interpreter, is not one: prog is then the program
// to run, and running it says what is wrong.
func Script(prog string) (text string, ok bool, err error) {
	f, err := os.Open(prog)
	if err != nil {
		return "", false, nil
	}
	defer f.Close()
	first, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
	if err != nil && first == "" {
		return "", false, nil
	}
	line, isScript := strings.CutPrefix(first, "#!")
	if !isScript || !namesCrJob(line) {
		return "", false, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", false, fmt.Errorf("%s: %w", prog, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxScript+1))
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", prog, err)
	}
	if len(b) > maxScript {
		return "", false, fmt.Errorf("%s: a job script with cr_job as its interpreter may hold at most %d KiB; put the work in a script of its own and have this one run it", prog, maxScript>>10)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "", false, fmt.Errorf("%s: names cr_job as its interpreter but holds a NUL byte: not a shell script", prog)
	}
	return string(b), true, nil
}

// namesCrJob says whether a #! line's interpreter, or env's command, is
// cr_job.
func namesCrJob(line string) bool {
	for _, w := range strings.Fields(line) {
		if filepath.Base(w) == "cr_job" {
			return true
		}
	}
	return false
}

// scriptCommand is the command that runs a job script's text under the
// agent: bash -c TEXT SCRIPT ARGS. bash holds the text in memory, so the
// checkpointed job holds no descriptor of the script file, which the
// scheduler keeps in a node's spool directory and removes when the run
// ends.
func scriptCommand(text, prog string, args []string) ([]string, error) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		return nil, fmt.Errorf("%s names cr_job as its interpreter, whose lines bash runs: %w", prog, err)
	}
	return append([]string{bash, "-c", text, prog}, args...), nil
}
