package image

import (
	"io"
	"time"
)

// JSONSchemaID names the schema of cr_info --json (docs/json.md), and
// JSONVersion is its version: it grows by one whenever a field changes
// meaning or goes away (new fields may appear without it).
const (
	JSONSchemaID = "stasis-image-json"
	JSONVersion  = 1
)

// JSONImage is what cr_info --json prints: an image, or every image of a
// checkpoint directory, as one object. Processes are the image's process
// records as they are stored (see types.go), with what follows each.
type JSONImage struct {
	Schema        string          `json:"schema"`
	SchemaVersion int             `json:"schema_version"`
	Directory     string          `json:"directory,omitempty"` // a checkpoint directory: its path
	FormatVersion uint32          `json:"format_version"`
	Arch          uint32          `json:"arch"` // ELF machine number (62: x86-64)
	PageSize      uint32          `json:"page_size"`
	Created       time.Time       `json:"created"`
	Part          bool            `json:"part,omitempty"` // one process of a checkpoint directory
	Processes     []JSONProcess   `json:"processes"`
	SavedFiles    []JSONSavedFile `json:"saved_files"`
	Totals        JSONTotals      `json:"totals"`
}

// JSONProcess is a process record and the records that follow it.
type JSONProcess struct {
	*Process
	ImageFile string         `json:"image_file,omitempty"` // in a directory: the file that holds it
	Pages     []JSONPages    `json:"pages"`
	Same      []JSONSame     `json:"same"`
	FileData  []JSONFileData `json:"file_data"`
}

// JSONPages is a pages record: the bytes at [start, end) of the process,
// stored at offset in the image file (of the uncompressed stream).
type JSONPages struct {
	Start  uint64 `json:"start"`
	End    uint64 `json:"end"`
	Offset int64  `json:"offset"`
}

// JSONSame is a same-pages record: the pages at [start, end) are those
// of process pid at addr, stored once for both.
type JSONSame struct {
	Start uint64 `json:"start"`
	End   uint64 `json:"end"`
	Pid   int    `json:"pid"`
	Addr  uint64 `json:"addr"`
}

// JSONFileData is a file's contents kept in the image (a small or
// deleted file a descriptor had open), by its id among the process's
// files.
type JSONFileData struct {
	ID     uint64 `json:"id"`
	Length uint64 `json:"length"`
}

// JSONSavedFile is a mapped file saved whole (--save-*).
type JSONSavedFile struct {
	ID     int    `json:"id"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Offset int64  `json:"offset"`
}

// JSONTotals sums the records.
type JSONTotals struct {
	PageBytes      uint64 `json:"page_bytes"`
	SameBytes      uint64 `json:"same_bytes"`
	FileDataBytes  uint64 `json:"file_data_bytes"`
	SavedFileBytes uint64 `json:"saved_file_bytes"`
}

// DescribeJSON reads the whole image from r, verifying every checksum, and
// returns it as JSON data; nothing is returned for an image that is not
// whole.
func DescribeJSON(r io.Reader) (*JSONImage, error) {
	rd, h, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	out := &JSONImage{Schema: JSONSchemaID, SchemaVersion: JSONVersion, FormatVersion: h.Version,
		Arch: h.Arch, PageSize: h.PageSize, Created: time.Unix(0, h.Created).UTC(),
		Part: h.Flags&FlagPart != 0, Processes: []JSONProcess{}, SavedFiles: []JSONSavedFile{}}
	var cur *JSONProcess
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch rec.Type {
		case RecProcess:
			p, err := rd.Process()
			if err != nil {
				return nil, err
			}
			out.Processes = append(out.Processes, JSONProcess{Process: p,
				Pages: []JSONPages{}, Same: []JSONSame{}, FileData: []JSONFileData{}})
			cur = &out.Processes[len(out.Processes)-1]
			continue
		case RecSame:
			sm, err := rd.Same()
			if err != nil {
				return nil, err
			}
			out.Totals.SameBytes += sm.Len
			if cur != nil {
				cur.Same = append(cur.Same, JSONSame{Start: rec.Arg, End: rec.Arg + sm.Len, Pid: sm.Pid, Addr: sm.Addr})
			}
			continue
		case RecSavedFile:
			m, err := rd.SavedFile()
			if err != nil {
				return nil, err
			}
			out.Totals.SavedFileBytes += uint64(m.Size)
			out.SavedFiles = append(out.SavedFiles, JSONSavedFile{ID: m.ID, Path: m.Path, Size: m.Size, Offset: rec.Offset + SavedHeader})
		case RecPages:
			out.Totals.PageBytes += rec.Len
			if cur != nil {
				cur.Pages = append(cur.Pages, JSONPages{Start: rec.Arg, End: rec.Arg + rec.Len, Offset: rec.Offset})
			}
		case RecFileData:
			out.Totals.FileDataBytes += rec.Len
			if cur != nil {
				cur.FileData = append(cur.FileData, JSONFileData{ID: rec.Arg, Length: rec.Len})
			}
		}
		if _, err := io.Copy(io.Discard, rd); err != nil {
			return nil, err
		}
	}
}
