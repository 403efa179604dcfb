package blcr

import "strings"

// LastValue returns the value of the last of the named options in args,
// given as "--name=VALUE" or "--name VALUE", and whether one was given.
// Unlike LastSignal it reads past non-options (cr_restart takes its image
// anywhere among its options), up to "--".
func LastValue(args []string, names ...string) (val string, found bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		matched := false
		for _, n := range names {
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				val, found, matched = v, true, true
			} else if a == n {
				matched = true
				if i+1 < len(args) {
					i++
					val, found = args[i], true
				}
			}
		}
		if !matched && valueOpts[a] {
			i++ // another option's value, which may look like anything
		}
	}
	return val, found
}
