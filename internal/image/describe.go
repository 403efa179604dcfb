package image

import (
	"fmt"
	"io"
	"time"
)

// Describe prints a summary of the image read from r: its header, then a
// line per record, then totals. It reads the whole image and so also
// verifies every checksum.
func Describe(r io.Reader, w io.Writer) error {
	rd, h, err := NewReader(r)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "stasis image, format version %d, arch %d, page size %d, made %s\n",
		h.Version, h.Arch, h.PageSize, time.Unix(0, h.Created).UTC().Format(time.RFC3339))
	if h.Flags&FlagPart != 0 {
		fmt.Fprintln(w, "one process of a checkpoint directory (restart the directory)")
	}
	var pages, data, saved, same uint64
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch rec.Type {
		case RecProcess:
			p, err := rd.Process()
			if err != nil {
				return err
			}
			if p.Zombie {
				fmt.Fprintf(w, "process %d (%s), child of %d: zombie, wait status %#x\n", p.Pid, p.Comm, p.PPid, p.ExitCode)
				continue
			}
			fmt.Fprintf(w, "process %d (%s) %s, child of %d: %d threads, %d mappings, %d fds, cwd %s\n",
				p.Pid, p.Comm, p.Exe, p.PPid, len(p.Threads), len(p.VMAs), len(p.Fds), p.Cwd)
			describeFiles(w, p)
			describeOutside(w, p)
			continue
		case RecPages:
			pages += rec.Len
			fmt.Fprintf(w, "  pages %#x-%#x (%d KiB) at offset %d\n", rec.Arg, rec.Arg+rec.Len, rec.Len>>10, rec.Offset)
		case RecSame:
			sm, err := rd.Same()
			if err != nil {
				return err
			}
			same += sm.Len
			fmt.Fprintf(w, "  pages %#x-%#x (%d KiB) same as pid %d's at %#x\n", rec.Arg, rec.Arg+sm.Len, sm.Len>>10, sm.Pid, sm.Addr)
			continue
		case RecSavedFile:
			m, err := rd.SavedFile()
			if err != nil {
				return err
			}
			saved += uint64(m.Size)
			fmt.Fprintf(w, "saved file %d: %s, %d bytes at offset %d\n", m.ID, m.Path, m.Size, rec.Offset+SavedHeader)
		case RecFileData:
			data += rec.Len
			fmt.Fprintf(w, "  file data %d: %d bytes\n", rec.Arg, rec.Len)
		}
		if _, err := io.Copy(io.Discard, rd); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "total: %d KiB of pages, %d bytes of file data, %d bytes of saved files; all checksums good\n", pages>>10, data, saved)
	fmt.Fprintf(w, "deduplicated: %d pages (%d KiB) stored once, for another process\n", same/PageSize, same>>10)
	return nil
}

// describeOutside lists the TCP connections to peers outside the image,
// and the nftables table that holds each one's packets.
func describeOutside(w io.Writer, p *Process) {
	for _, f := range p.Fds {
		switch c := f.TCP; {
		case c == nil:
		case c.Closed:
			fmt.Fprintf(w, "  fd %d: tcp %s connected to %s, outside the image: restored reset (--tcp-close)\n", f.Num, c.Local, c.Peer)
		case c.Outside:
			fmt.Fprintf(w, "  fd %d: tcp %s connected to %s, outside the image: its packets held by nftables table inet %s until the restart\n", f.Num, c.Local, c.Peer, c.Lock)
		}
	}
}
