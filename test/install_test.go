package e2e

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestInstall: make install PREFIX=dir puts every command of cmd/ in
// dir/bin, its man page in dir/share/man/man1 and its bash completion in
// dir/share/bash-completion/completions; man renders each page without a
// warning, and the page says what the installed command's --help says
// (its description, exit statuses and every option with its help), so
// that the two cannot drift apart; the completion offers the options
// --help lists. It fails, not skips, without man (.ci/run installs it).
func TestInstall(t *testing.T) {
	needEngine(t)
	for _, tool := range []string{"make", "man", "groff", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to test make install and the man pages (apt-get install man-db groff-base; .ci/run does): %v", tool, err)
		}
	}
	work := t.TempDir()
	prefix := filepath.Join(work, "prefix")
	// Nothing of an outer make (make test DESTDIR=...) reaches this one.
	r := runEnv(t, repoRoot, []string{"MAKEFLAGS=", "MFLAGS=", "MAKELEVEL="}, "make", "install",
		"PREFIX="+prefix, "DESTDIR=", "BIN="+binDir, "GEN="+filepath.Join(work, "gen"), "GO="+goCmd().Path)
	if r.code != 0 {
		t.Fatalf("make install failed:\n%s", r)
	}

	entries, err := os.ReadDir(filepath.Join(repoRoot, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, e := range entries {
		if e.IsDir() {
			cmds = append(cmds, e.Name())
		}
	}
	if len(cmds) < 4 {
		t.Fatalf("cmd/ has %v: where are the commands?", cmds)
	}
	t.Run("libcr", func(t *testing.T) { checkLibcr(t, prefix) })
	for _, c := range cmds {
		t.Run(c, func(t *testing.T) {
			exe := filepath.Join(prefix, "bin", c)
			help := runEnv(t, work, nil, exe, "--help")
			if help.code != 0 {
				t.Fatalf("the installed %s --help failed:\n%s", c, help)
			}
			for _, hidden := range []string{"--man-page", "--bash-completion"} {
				if strings.Contains(help.stdout, hidden) {
					t.Errorf("%s --help shows the hidden %s", c, hidden)
				}
			}
			desc, flags := parseHelp(help.stdout)
			if len(desc) == 0 || len(flags) == 0 {
				t.Fatalf("cannot read %s --help:\n%s", c, help.stdout)
			}
			checkPage(t, c, prefix, cmds, desc, flags)
			checkCompletion(t, c, prefix, flags)
		})
	}
}

// checkLibcr: make install put BLCR's headers in include/, libcr.so.0
// (soname libcr.so.0) with its libcr.so link and libcr.a in lib/, a
// pkg-config file naming them, and libcr(3), which man renders without a
// warning and which names every function libcr.h declares.
func checkLibcr(t *testing.T, prefix string) {
	for _, h := range []string{"libcr.h", "blcr_common.h", "blcr_errcodes.h"} {
		if _, err := os.Stat(filepath.Join(prefix, "include", h)); err != nil {
			t.Errorf("make install: no include/%s: %v", h, err)
		}
	}
	lib := filepath.Join(prefix, "lib")
	if f, err := elf.Open(filepath.Join(lib, "libcr.so.0")); err != nil {
		t.Errorf("lib/libcr.so.0: %v", err)
	} else {
		so, _ := f.DynString(elf.DT_SONAME)
		f.Close()
		if !slices.Equal(so, []string{"libcr.so.0"}) {
			t.Errorf("lib/libcr.so.0 has soname %q, want libcr.so.0 (BLCR's)", so)
		}
	}
	if l, err := os.Readlink(filepath.Join(lib, "libcr.so")); err != nil || l != "libcr.so.0" {
		t.Errorf("lib/libcr.so: want a link to libcr.so.0, got %q, %v", l, err)
	}
	if b, err := os.ReadFile(filepath.Join(lib, "libcr.a")); err != nil || !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		t.Errorf("lib/libcr.a: not an archive: %v", err)
	}
	pc, err := os.ReadFile(filepath.Join(lib, "pkgconfig", "libcr.pc"))
	if err != nil || !strings.Contains(string(pc), "Libs: -L${libdir} -lcr") || !strings.Contains(string(pc), "libdir="+lib+"\n") {
		t.Errorf("lib/pkgconfig/libcr.pc: want libdir=%s and -lcr: %v\n%s", lib, err, pc)
	}
	env := []string{"MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8", "MANOPT="}
	m := runEnv(t, prefix, env, "man", "--warnings", "--nh", "--nj", "-M", filepath.Join(prefix, "share", "man"), "3", "libcr")
	if m.code != 0 || m.stderr != "" || !strings.Contains(m.stdout, "NAME") {
		t.Fatalf("man 3 libcr: failed or warned:\n%s", m)
	}
	hdr, _ := os.ReadFile(filepath.Join(prefix, "include", "libcr.h"))
	page := words(m.stdout)
	for _, fn := range regexp.MustCompile(`(?m)^extern [^;(]*?\b(cr_[a-z_]+)\(`).FindAllStringSubmatch(string(hdr), -1) {
		if !strings.Contains(page, fn[1]) {
			t.Errorf("libcr(3) does not mention %s, which libcr.h declares", fn[1])
		}
	}
}

// helpFlag is one row of kong's help: "-f, --file=FILE" and its text.
type helpFlag struct{ name, help string }

// parseHelp reads kong's --help: the paragraphs of the description (from
// the Usage line to Arguments or Flags) and the options.
func parseHelp(text string) (desc []string, flags []helpFlag) {
	lines := strings.Split(text, "\n")
	i := 1
	var para []string
	for ; i < len(lines) && lines[i] != "Arguments:" && lines[i] != "Flags:"; i++ {
		if strings.TrimSpace(lines[i]) == "" {
			if len(para) > 0 {
				desc = append(desc, words(strings.Join(para, " ")))
			}
			para = nil
			continue
		}
		para = append(para, lines[i])
	}
	row := regexp.MustCompile(`^ +(?:-\S, )?(--[^ =]+)(?:=\S+)?(?: {2,}(.*))?$`)
	inFlags := false
	for ; i < len(lines); i++ {
		l := lines[i]
		switch {
		case l == "Flags:":
			inFlags = true
		case strings.TrimSpace(l) == "" || l == "Arguments:":
		case !strings.HasPrefix(l, " "):
			inFlags = true // a group's title
		case !inFlags:
		case row.MatchString(l):
			m := row.FindStringSubmatch(l)
			flags = append(flags, helpFlag{m[1], m[2]})
		case len(flags) > 0:
			f := &flags[len(flags)-1]
			f.help = strings.TrimSpace(f.help + " " + strings.TrimSpace(l))
		}
	}
	return desc, flags
}

// words is s with every run of white space one space, and the hyphens and
// minus signs of a UTF-8 man page ASCII ones.
func words(s string) string {
	s = strings.NewReplacer("\u2010", "-", "\u2212", "-", "\u2011", "-").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// checkPage renders c's installed page with man and groff, requiring no
// warning, and finds in it what --help says.
func checkPage(t *testing.T, c, prefix string, cmds, desc []string, flags []helpFlag) {
	file := filepath.Join(prefix, "share", "man", "man1", c+".1")
	if g := runEnv(t, prefix, nil, "groff", "-man", "-ww", "-z", file); g.code != 0 || g.stderr != "" {
		t.Errorf("groff -ww warns of %s:\n%s", file, g)
	}
	env := []string{"MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8", "MANOPT="}
	m := runEnv(t, prefix, env, "man", "--warnings", "--nh", "--nj", "-M", filepath.Join(prefix, "share", "man"), c)
	if m.code != 0 || m.stderr != "" || m.stdout == "" {
		t.Fatalf("man -M %s/share/man %s: failed or warned:\n%s", prefix, c, m)
	}
	page := words(m.stdout)
	for _, section := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SEE ALSO"} {
		if !strings.Contains(page, " "+section+" ") {
			t.Errorf("%s(1) has no %s section:\n%s", c, section, m.stdout)
		}
	}
	if !strings.Contains(page, "NAME "+c+" - ") {
		t.Errorf("%s(1) does not begin NAME %s - ...:\n%s", c, c, m.stdout)
	}
	for _, p := range desc {
		found := strings.Contains(page, p)
		if rest, ok := strings.CutPrefix(p, "Exit status: "); ok {
			// under its heading, begun with a capital
			found = strings.Contains(strings.ToLower(page), strings.ToLower("EXIT STATUS "+rest))
		}
		if !found {
			t.Errorf("%s(1) lacks this paragraph of --help:\n  %s\npage:\n%s", c, p, m.stdout)
		}
	}
	for _, f := range flags {
		if !strings.Contains(page, f.name) || !strings.Contains(page, words(f.help)) {
			t.Errorf("%s(1) lacks %s as --help gives it (%q):\n%s", c, f.name, f.help, m.stdout)
		}
	}
	for _, other := range cmds {
		if other != c && !strings.Contains(page, other+"(1)") {
			t.Errorf("%s(1) does not point to %s(1) in SEE ALSO:\n%s", c, other, m.stdout)
		}
	}
}

// checkCompletion sources c's installed completion in bash and completes
// with its function: every option --help lists is offered after "--", and
// cr_checkpoint --ki offers --kill.
func checkCompletion(t *testing.T, c, prefix string, flags []helpFlag) {
	script := filepath.Join(prefix, "share", "bash-completion", "completions", c)
	complete := func(words ...string) []string {
		t.Helper()
		// The function is what `complete -p` names; COMP_WORDS and
		// COMP_CWORD are what readline would set.
		prog := `set -e; source "$1"; shift
spec=$(complete -p "$1"); fn=${spec#*-F }; fn=${fn%% *}
COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"`
		r := runEnv(t, prefix, nil, append([]string{"bash", "--norc", "--noprofile", "-c", prog, "bash", script, c}, words...)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("completing %s %q with %s failed:\n%s", c, words, script, r)
		}
		return strings.Fields(r.stdout)
	}
	offered := complete("--")
	for _, f := range flags {
		name := strings.Replace(f.name, "[no-]", "", 1)
		if !slices.Contains(offered, name) {
			t.Errorf("completing %s -- does not offer %s: %q", c, name, offered)
		}
	}
	if c == "cr_checkpoint" {
		if got := complete("--ki"); !slices.Equal(got, []string{"--kill"}) {
			t.Errorf("completing cr_checkpoint --ki offers %q, want --kill", got)
		}
	}
}

// runEnv runs argv to completion in dir, with env added to the test's.
func runEnv(t *testing.T, dir string, env []string, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: argv, code: -1, stdout: stdout.String(), stderr: stderr.String(), timedOut: ctx.Err() != nil}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !r.timedOut {
		t.Fatalf("running %s: %v", strings.Join(argv, " "), err)
	}
	return r
}
