package restart

import "errors"

// ErrFileChanged is wrapped by the errors that report a file which is no
// longer the one the image was taken with (another size, another build):
// a problem with the environment, not with the image.
var ErrFileChanged = errors.New("the file changed since the checkpoint")
