package cli

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

type sample struct {
	Verbose bool     `short:"v" help:"Say more."`
	File    string   `short:"f" placeholder:"FILE" group:"Where" help:".hidden files and 'quoted' ones, a\\b."`
	Dir     string   `placeholder:"DIR" group:"Where" help:"Into DIR."`
	Pid     bool     `short:"p" aliases:"process" group:"Scope" help:"One process."`
	Mode    string   `enum:"fast,slow" default:"fast" help:"How."`
	Below   int64    `placeholder:"BYTES" default:"1024" help:"Keep files below BYTES"`
	Keep    bool     `negatable:"" help:"Keep (default)."`
	Secret  bool     `hidden:"" help:"Not for you."`
	Unicode string   `placeholder:"X" help:"Em — dash."`
	Prog    string   `arg:"" help:"The program."`
	Args    []string `arg:"" optional:"" passthrough:"" help:"Its arguments."`
}

func newSample(t *testing.T, out *bytes.Buffer, exited *int) *kong.Kong {
	t.Helper()
	var c sample
	k, err := kong.New(&c, kong.Name("cr_sample"), kong.Vars{"version": "stasis 9"},
		kong.Description("Do a thing; at length. Really.\n\n.Second paragraph.\n\nExit status: zero, or 22."),
		Docs(), kong.Writers(out, out), kong.Exit(func(code int) { *exited = code; panic(exitPanic{}) }))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type exitPanic struct{}

// parse runs k on args and returns what it printed and the status it
// exited with (-1: it did not exit).
func parse(k *kong.Kong, out *bytes.Buffer, exited *int, args ...string) (string, int) {
	*exited = -1
	out.Reset()
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(exitPanic); !ok {
					panic(r)
				}
			}
		}()
		k.Parse(args)
	}()
	return out.String(), *exited
}

func TestManPage(t *testing.T) {
	var out bytes.Buffer
	var exited int
	k := newSample(t, &out, &exited)
	page, code := parse(k, &out, &exited, "--man-page")
	if code != 0 {
		t.Fatalf("--man-page exited %d:\n%s", code, page)
	}
	for _, want := range []string{
		`.TH "CR_SAMPLE" 1 "" "stasis 9" "User Commands"`,
		".SH NAME\ncr_sample \\- Do a thing\n",
		"\\fBcr_sample\\fR [\\fIOPTIONS\\fR] \\fIPROG\\fR [\\fIARGS\\fR ...]\n",
		".SH DESCRIPTION\nDo a thing; at length. Really.\n.PP\n\\&.Second paragraph.\n",
		".SH \"EXIT STATUS\"\nZero, or 22.\n",
		"\\fB\\-v\\fR, \\fB\\-\\-verbose\\fR\nSay more.\n",
		".SS \"Where\"\n.TP\n\\fB\\-f\\fR, \\fB\\-\\-file\\fR=\\fIFILE\\fR\n\\&.hidden files and 'quoted' ones, a\\eb.\n",
		"\\fB\\-p\\fR, \\fB\\-\\-pid\\fR, \\fB\\-\\-process\\fR\n",
		"\\fB\\-\\-mode\\fR=\\fIfast|slow\\fR\nHow. Default: fast.\n",
		"Keep files below BYTES. Default: 1024.\n",
		"\\fB\\-\\-\\fR[\\fBno\\-\\fR]\\fBkeep\\fR\nKeep (default).\n",
		"Em \\[u2014] dash.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	for _, bad := range []string{"secret", "man\\-page", "bash\\-completion", "Exit status:"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page has %q:\n%s", bad, page)
		}
	}
	for i, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, "'") || (strings.HasPrefix(line, ".") && !isRequest(line)) {
			t.Errorf("line %d would be read as a request: %q", i+1, line)
		}
	}
}

// isRequest: the requests ManPage writes.
func isRequest(line string) bool {
	for _, r := range []string{`.\"`, ".TH ", ".SH ", ".SS ", ".TP", ".PP", ".nh", ".hy", ".ad"} {
		if strings.HasPrefix(line, r) {
			return true
		}
	}
	return false
}

func TestHiddenFlagsHidden(t *testing.T) {
	var out bytes.Buffer
	var exited int
	k := newSample(t, &out, &exited)
	help, code := parse(k, &out, &exited, "--help")
	if code != 0 || !strings.Contains(help, "--verbose") {
		t.Fatalf("--help exited %d:\n%s", code, help)
	}
	if strings.Contains(help, "man-page") || strings.Contains(help, "bash-completion") {
		t.Errorf("--help shows the hidden flags:\n%s", help)
	}
	// After PROG (Args puts a "--" before it) they are the program's.
	if _, code := parse(k, &out, &exited, Args([]string{"prog", "--man-page"}, map[string]bool{})...); code != -1 {
		t.Errorf("prog --man-page exited %d: read as ours", code)
	}
}

func TestBashCompletion(t *testing.T) {
	var out bytes.Buffer
	var exited int
	k := newSample(t, &out, &exited)
	script, code := parse(k, &out, &exited, "--bash-completion")
	if code != 0 {
		t.Fatalf("--bash-completion exited %d:\n%s", code, script)
	}
	for _, want := range []string{
		"_cr_sample()\n{\n",
		"local opts='-h --help -v --verbose -f --file --dir -p --pid --process --mode --below --keep --no-keep --unicode'",
		"local valued=' -f --file --dir --mode --below --unicode '",
		"--mode) mapfile -t COMPREPLY < <(compgen -W 'fast slow' -- \"$cur\") ;;",
		"-f|--file) compopt -o filenames",
		"--dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d",
		"--below) : ;;",
		"_command_offset",
		"complete -F _cr_sample cr_sample\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "secret") {
		t.Errorf("the script offers a hidden flag:\n%s", script)
	}
}

func TestRoffText(t *testing.T) {
	for in, want := range map[string]string{
		`a\b`:         `a\eb`,
		"--kill":      `\-\-kill`,
		"é":           `\[u00E9]`,
		"tab\there":   "tab here",
		"bell\x07":    "bell",
		`say "hi"`:    `say "hi"`,
		"end.\n.next": `end. .next`,
	} {
		if got := roffText(in); got != want {
			t.Errorf("roffText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := protect(".TH x"); got != `\&.TH x` {
		t.Errorf("protect: %q", got)
	}
	if got := protect("'x"); got != `\&'x` {
		t.Errorf("protect: %q", got)
	}
	if got := roffQuote(`a "b"`); got != `"a \(dqb\(dq"` {
		t.Errorf("roffQuote: %q", got)
	}
}

// TestManLiteral: a paragraph indented by four spaces (an example in a
// description) is shown as it stands, not filled.
func TestManLiteral(t *testing.T) {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	desc, _ := paragraphs("Intro.\n\n    #SBATCH --x\n    exec cr_job ./a\n\nAfter.")
	writeParagraphs(w, desc)
	w.Flush()
	want := "Intro.\n.PP\n.RS 4\n.nf\n#SBATCH \\-\\-x\nexec cr_job ./a\n.fi\n.RE\n.PP\nAfter.\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
