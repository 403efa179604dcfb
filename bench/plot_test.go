package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScalingPlot(t *testing.T) {
	var p scalingPlot
	if err := p.write(filepath.Join(t.TempDir(), "empty.png"), "m"); err == nil {
		t.Error("a plot with no curves was written")
	}
	p.add("scaling: tree of processes, checkpoint", &curve{"process", []int{1, 10, 100}, []float64{36, 10.8, 7.6}})
	p.add("scaling: tree of processes, restart", &curve{"process", []int{1, 10, 100}, []float64{15, 6.9, 5.6}})
	p.add("scaling: threads of a process, checkpoint", &curve{"thread", []int{1, 16, 128}, []float64{27, 1.9, 0.56}})
	p.add("agent overhead", nil)
	if strings.Join(p.panels, ",") != "checkpoint,restart" {
		t.Fatalf("panels %q, want checkpoint,restart", p.panels)
	}
	if got := p.curves["checkpoint"][1].label; got != "threads of a process" {
		t.Errorf("label %q, want %q", got, "threads of a process")
	}
	dir := t.TempDir()
	for file, magic := range map[string][]byte{"s.png": []byte("\x89PNG"), "s.svg": []byte("<?xml")} {
		file = filepath.Join(dir, file)
		if err := p.write(file, "test machine"); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, magic) || len(b) < 1000 {
			t.Errorf("%s: %d bytes starting %q, want an image starting %q", file, len(b), b[:min(8, len(b))], magic)
		}
	}
	if err := p.write(filepath.Join(dir, "s.txt"), "m"); err == nil || !strings.Contains(err.Error(), ".png or .svg") {
		t.Errorf("a .txt plot: %v, want an error naming .png or .svg", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".plot-*")); len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
}
