package main

import (
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// progs holds the C programs the benchmarks run, progs/NAME.c each, and
// the headers they share.
//
//go:embed progs/*.c progs/*.h
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
	if err := writeHeaders(dir); err != nil {
		return "", err
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

// writeHeaders puts the shared headers beside the programs in dir.
func writeHeaders(dir string) error {
	hs, err := progs.ReadDir("progs")
	if err != nil {
		return err
	}
	for _, h := range hs {
		if filepath.Ext(h.Name()) != ".h" {
			continue
		}
		b, err := progs.ReadFile("progs/" + h.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, h.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
