package main

import (
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// progs holds the C programs the benchmarks run, progs/NAME.c each.
//
//go:embed progs/*.c
var progs embed.FS

// compile builds progs/name.c with gcc -O2 into dir and returns the path of
// the executable.
func compile(dir, name string) (string, error) {
	src, err := progs.ReadFile("progs/" + name + ".c")
	if err != nil {
		return "", err
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("gcc is needed to build the %s program: %w", name, err)
	}
	srcPath := filepath.Join(dir, name+".c")
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		return "", err
	}
	exe := filepath.Join(dir, name)
	out, err := exec.Command(gcc, "-O2", "-Wall", "-o", exe, srcPath).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("gcc %s: %w%s", srcPath, err, quoteOutput(out))
	}
	return exe, nil
}
