package batch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScript(t *testing.T) {
	d := t.TempDir()
	for _, c := range []struct {
		text   string
		ok     bool
		errHas string
	}{
		{"#!/usr/bin/env cr_job\n./solver\n", true, ""},
		{"#!/usr/bin/env -S cr_job --interval 1h\n./solver\n", true, ""},
		{"#!/opt/stasis/bin/cr_job\n./solver\n", true, ""},
		{"#!/usr/bin/env cr_job", true, ""},
		{"#!/bin/bash\nexec cr_job ./solver\n", false, ""},
		{"#!/usr/bin/env python3\n# cr_job\n", false, ""},
		{"\x7fELF\x02\x01\x01", false, ""},
		{"", false, ""},
		{"#!/usr/bin/env cr_job\n\x00\n", false, "NUL"},
		{"#!/usr/bin/env cr_job\n" + strings.Repeat("#\n", maxScript/2), false, "at most"},
	} {
		p := filepath.Join(d, "job")
		if err := os.WriteFile(p, []byte(c.text), 0o755); err != nil {
			t.Fatal(err)
		}
		text, ok, err := Script(p)
		switch {
		case c.errHas != "":
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("%.30q: error %v, want one saying %q", c.text, err, c.errHas)
			}
		case err != nil || ok != c.ok || (ok && text != c.text):
			t.Errorf("%.30q: %v %v, want %v", c.text, ok, err, c.ok)
		}
	}
	if _, ok, err := Script(filepath.Join(d, "missing")); ok || err != nil {
		t.Errorf("a missing file: %v %v; want it taken for a program (whose start says what is wrong)", ok, err)
	}
}
