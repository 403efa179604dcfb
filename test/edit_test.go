package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"testing"
)

// editImage writes to dst the image src with each process record's JSON
// passed through edit, and every record's padding and checksum made
// right again, as docs/FORMAT.md lets anyone do: what an attacker who
// can write an image file can make it say.
func editImage(t *testing.T, src, dst string, edit func(p map[string]any)) {
	t.Helper()
	in, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	tab := crc32.MakeTable(crc32.Castagnoli)
	out := append([]byte(nil), in[:64]...)
	prev := le.Uint32(in[60:])
	for off := int64(64); ; {
		if off+32 > int64(len(in)) {
			t.Fatalf("%s: no end record", src)
		}
		h := in[off : off+32]
		typ, pad, n := le.Uint32(h), int64(le.Uint32(h[4:])), int64(le.Uint64(h[8:]))
		payload := in[off+32+pad : off+32+pad+n]
		off += 32 + pad + n
		if typ == 1 {
			var p map[string]any
			d := json.NewDecoder(bytes.NewReader(payload))
			d.UseNumber() // 64-bit masks and addresses stay exact
			if err := d.Decode(&p); err != nil {
				t.Fatalf("%s: process record: %v", src, err)
			}
			edit(p)
			if payload, err = json.Marshal(p); err != nil {
				t.Fatal(err)
			}
		}
		newPad := 0
		if pad > 0 || typ == 2 || typ == 4 { // page-aligned payloads stay so
			newPad = int((4096 - (int64(len(out))+32)%4096) % 4096)
		}
		nh := make([]byte, 32)
		le.PutUint32(nh, typ)
		le.PutUint32(nh[4:], uint32(newPad))
		le.PutUint64(nh[8:], uint64(len(payload)))
		copy(nh[16:24], h[16:24])
		crc := crc32.Update(0, tab, le.AppendUint32(nil, prev))
		crc = crc32.Update(crc, tab, nh[:24])
		crc = crc32.Update(crc, tab, payload)
		le.PutUint32(nh[24:], crc)
		prev = crc
		out = append(append(append(out, nh...), make([]byte, newPad)...), payload...)
		if typ == 0x454E44 {
			break
		}
	}
	if err := os.WriteFile(dst, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
