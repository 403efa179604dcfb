// Package cli holds what the commands share on their command lines: one
// exit status for every usage error (22, EINVAL, as BLCR's tools used the
// errno), `-?` as a spelling of help, for cr_run the rule that everything
// from the program's name on belongs to the program, and the manual page
// and bash completion script made from the model --help prints (the
// hidden --man-page and --bash-completion).
package cli

import (
	"os"
	"strings"

	"github.com/alecthomas/kong"
)

// UsageStatus is the exit status of every usage error: EINVAL.
const UsageStatus = 22

// Exit is the kong option that makes every parse error exit UsageStatus
// (help and --version still exit 0). It also applies Docs, so that every
// command that uses it has a manual page and a completion script.
func Exit() kong.Option {
	return kong.OptionFunc(func(k *kong.Kong) error {
		k.Exit = func(code int) {
			if code != 0 {
				code = UsageStatus
			}
			os.Exit(code)
		}
		return Docs().Apply(k)
	})
}

// Args returns args (without the command's name) with `-?` spelled
// `--help`, up to the end of the options: the first "--", or, when valued
// is not nil, the first argument that is not an option (the program's
// name for cr_run), before which a "--" is put so that nothing after it
// is read as an option of ours. valued names the options that take their
// value from the next argument ("-f", "--interval").
func Args(args []string, valued map[string]bool) []string {
	out := make([]string, 0, len(args)+1)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case a == "-?":
			out = append(out, "--help")
		case valued != nil && (a == "-" || !strings.HasPrefix(a, "-")):
			out = append(out, "--")
			return append(out, args[i:]...)
		default:
			out = append(out, a)
			if valued[a] && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
		}
	}
	return out
}
