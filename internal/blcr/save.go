package blcr

import "strings"

// Saved is what cr_checkpoint's --save-* options ask the image to carry.
type Saved struct{ Exe, Private, Shared bool }

// SaveOptions reads --save-exe, --save-private, --save-shared, --save-all
// and --save-none in args, left to right as BLCR does: each adds to what
// came before it, except --save-none, which cancels everything before it.
// Scanning stops at "--".
func SaveOptions(args []string) Saved {
	var s Saved
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if valueOpts[a] {
			i++
			continue
		}
		if !strings.HasPrefix(a, "--save-") {
			continue
		}
		switch a {
		case "--save-exe":
			s.Exe = true
		case "--save-private":
			s.Private = true
		case "--save-shared":
			s.Shared = true
		case "--save-all":
			s = Saved{true, true, true}
		case "--save-none":
			s = Saved{}
		}
	}
	return s
}
