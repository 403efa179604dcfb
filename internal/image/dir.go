package image

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// A checkpoint directory (cr_checkpoint -d DIR) holds one image per
// process, DIR/context.PID, and DIR/context, the index: the processes in
// the order they are restored (parents first). Each image is complete on
// its own (a header, the process's records, an end record) and has
// FlagPart set, because what ties it to the others lives in the images
// before it: a pipe's waiting bytes, a shared description, a shared memory
// object's pages and same-pages records are stored with the first process
// that has them. Read in the index's order, one after the other, the images
// say what a single image of the whole tree says.

// FlagPart marks an image that is one process of a checkpoint directory.
const FlagPart = 1

// IndexName is the index's name in a checkpoint directory.
const IndexName = "context"

// indexMagic identifies an index, in its "stasis" field.
const indexMagic = "checkpoint directory 1"

// Index is a checkpoint directory's index.
type Index struct {
	Stasis    string      `json:"stasis"`
	Processes []IndexProc `json:"processes"`
}

// IndexProc is one process of a checkpoint directory and its image.
type IndexProc struct {
	Pid  int    `json:"pid"`
	File string `json:"file"`
}

// PartName is the image name of pid in a checkpoint directory.
func PartName(pid int) string { return "context." + strconv.Itoa(pid) }

// NewPartWriter starts the image of one process of a checkpoint directory.
func NewPartWriter(w io.Writer, arch uint32) (*Writer, error) { return newWriter(w, arch, FlagPart) }

// NewIndex is the index of the processes pids, in restore order.
func NewIndex(pids []int) []byte {
	x := Index{Stasis: indexMagic}
	for _, pid := range pids {
		x.Processes = append(x.Processes, IndexProc{pid, PartName(pid)})
	}
	b, _ := json.MarshalIndent(x, "", "\t")
	return append(b, '\n')
}

// ParseIndex decodes an index and checks that it names each process once,
// by its own image.
func ParseIndex(b []byte) (*Index, error) {
	var x Index
	if len(b) > 16<<20 {
		return nil, fmt.Errorf("%w: index of %d bytes", ErrCorrupt, len(b))
	}
	if err := json.Unmarshal(b, &x); err != nil || x.Stasis != indexMagic {
		return nil, fmt.Errorf("%w: not a stasis checkpoint directory index (%q expected)", ErrNotImage, indexMagic)
	}
	if len(x.Processes) == 0 {
		return nil, fmt.Errorf("%w: index names no process", ErrCorrupt)
	}
	seen := map[int]bool{}
	for _, p := range x.Processes {
		if p.Pid <= 0 || seen[p.Pid] || p.File != PartName(p.Pid) {
			return nil, fmt.Errorf("%w: index entry pid %d file %q", ErrCorrupt, p.Pid, p.File)
		}
		seen[p.Pid] = true
	}
	return &x, nil
}

// ReadIndex reads the index of the checkpoint directory dir.
func ReadIndex(dir string) (*Index, error) {
	b, err := os.ReadFile(filepath.Join(dir, IndexName))
	if err != nil {
		return nil, fmt.Errorf("checkpoint directory %s: %w", dir, err)
	}
	x, err := ParseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint directory %s: %w", dir, err)
	}
	return x, nil
}

// Chain makes r go on, at the end record of its image, with the image that
// next returns (nil: none left), as if its records followed; each image
// keeps its own header and checksums. The images must be parts of one
// checkpoint directory.
func (r *Reader) Chain(next func() (io.Reader, error)) { r.chain = next }

// follow moves r to the next chained image, if any.
func (r *Reader) follow() (bool, error) {
	if r.chain == nil {
		return false, nil
	}
	src, err := r.chain()
	if err != nil || src == nil {
		return false, err
	}
	nr, h, err := NewReader(src)
	if err != nil {
		return false, err
	}
	if h.Flags&FlagPart == 0 {
		return false, fmt.Errorf("%w: an image in a checkpoint directory is not marked as a part of one", ErrCorrupt)
	}
	nr.chain, nr.n, nr.closed = r.chain, r.n, true
	*r = *nr
	return true, nil
}
