package restart

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrFileChanged is wrapped by the errors that report a file which is no
// longer the one the image was taken with (another size, another build):
// a problem with the environment, not with the image.
var ErrFileChanged = errors.New("the file changed since the checkpoint")

// missingFile is a file of the image that is not where it was. Its Error
// is its cause alone: the path is in the message around it.
type missingFile struct {
	path string
	err  error
}

func (e *missingFile) Error() string { return e.err.Error() }
func (e *missingFile) Unwrap() error { return e.err }

// RelocateMayHelp says whether --relocate could find what err says is
// missing: not where a file is gone from a directory that is still there
// (a temporary file the job removed), where moving a tree would not bring
// it back.
func RelocateMayHelp(err error) bool {
	var m *missingFile
	if !errors.As(err, &m) {
		return true
	}
	st, serr := os.Stat(filepath.Dir(m.path))
	return serr != nil || !st.IsDir()
}
