package main

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	stcli "stasis/internal/cli"
)

// TestQuickParseAsKong: every command line that quickParse accepts, kong
// parses too, into the same options; every other one quickParse leaves
// to kong. The lines are hand-picked ones and random ones built from
// characters that mean something to a command-line parser.
func TestQuickParseAsKong(t *testing.T) {
	lines := [][]string{
		{"img"}, {"/tmp/context.123"}, {"a b"}, {"help"}, {"--"}, {"-"}, {""}, {"-q"}, {"-f", "x"},
		{"x", "y"}, {"--help"}, {"-?"}, {"a=b"}, {"--run"}, {"-v", "img"}, {"img", "-v"},
		{"ümlaut.img"}, {"\xff.img"}, {"=x"}, {"x="}, {"'"}, {"\""}, {"\\"}, {"\t"}, {" -q"}, {"-- img"},
		{"--restore-pid=strict", "img"}, {"-Fx"}, {"--version"},
		{},
	}
	r := rand.New(rand.NewPCG(16, 16))
	const alphabet = "ab-=/ .,?\\'\"\t_ü0"
	for range 2000 {
		var line []string
		for range r.IntN(3) + 1 {
			var w strings.Builder
			for range r.IntN(6) {
				w.WriteByte(alphabet[r.IntN(len(alphabet))])
			}
			line = append(line, w.String())
		}
		lines = append(lines, line)
	}
	accepted := 0
	for _, args := range lines {
		quick, ok := quickParse(args)
		if !ok {
			if len(args) == 1 && args[0] != "" && !strings.HasPrefix(args[0], "-") && utf8.ValidString(args[0]) {
				t.Errorf("%q: a lone image left to kong", args)
			}
			continue
		}
		accepted++
		var full cli
		if _, err := newParser(&full).Parse(stcli.Args(args, nil)); err != nil {
			t.Errorf("%q: quickParse accepts it, kong fails: %v", args, err)
			continue
		}
		if !reflect.DeepEqual(quick, full) {
			t.Errorf("%q: quickParse gives\n%+v\nkong gives\n%+v", args, quick, full)
		}
	}
	if accepted < 100 {
		t.Fatalf("only %d of %d command lines were parsed quickly: the test proves little", accepted, len(lines))
	}
}
