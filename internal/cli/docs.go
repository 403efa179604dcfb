package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

// Docs is the kong option that gives a command the hidden flags
// --man-page and --bash-completion, which print its manual page and its
// bash completion script, made from the model --help prints, and exit 0
// (make man and make install run them). Exit includes it: a command that
// uses Exit needs nothing more. Like every option of ours they are read
// only before the program's name of cr_run (Args puts a "--" there).
func Docs() kong.Option {
	return kong.Embed(&docFlags{})
}

type docFlags struct {
	ManPage        manPageFlag        `hidden:"" help:"Print the manual page (roff) and exit."`
	BashCompletion bashCompletionFlag `hidden:"" help:"Print the bash completion script and exit."`
}

type manPageFlag bool

// BeforeReset prints the page before defaults and required arguments are
// looked at, as --version does.
func (manPageFlag) BeforeReset(app *kong.Kong, vars kong.Vars) error {
	if err := ManPage(app.Stdout, app.Model, vars["version"], siblings(app.Model.Name)); err != nil {
		return err
	}
	app.Exit(0)
	return nil
}

type bashCompletionFlag bool

func (bashCompletionFlag) BeforeReset(app *kong.Kong) error {
	if err := BashCompletion(app.Stdout, app.Model); err != nil {
		return err
	}
	app.Exit(0)
	return nil
}

// siblings are the other stasis commands, for SEE ALSO: the executables
// named cr_* in the directory of this one (bin/ holds one per directory
// of cmd/, so a new command is listed without a word here).
func siblings(self string) []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir(filepath.Dir(exe))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, "cr_") || n == self || strings.ContainsAny(n, ".~") || e.IsDir() {
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
