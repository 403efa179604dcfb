package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var infoSchema struct {
	once sync.Once
	s    *jsonschema.Schema
	err  error
}

// checkInfoJSON runs cr_info --json on image and validates what it prints
// against docs/cr_info.schema.json; hh.checkpoint does so for every image
// it makes, so every kind of image the suite makes is checked. It returns
// the decoded object.
func (hh *h) checkInfoJSON(image string) map[string]any {
	t := hh.t
	t.Helper()
	infoSchema.once.Do(func() {
		infoSchema.s, infoSchema.err = jsonschema.NewCompiler().Compile(filepath.Join(repoRoot, "docs", "cr_info.schema.json"))
	})
	if infoSchema.err != nil {
		t.Fatalf("docs/cr_info.schema.json: %v", infoSchema.err)
	}
	r := hh.run(wait30, bin(t, "cr_info"), "--json", image)
	if r.code != 0 {
		t.Fatalf("cr_info --json %s:\n%s", image, r)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("cr_info --json %s: not JSON: %v", image, err)
	}
	if err := infoSchema.s.Validate(inst); err != nil {
		t.Fatalf("cr_info --json %s does not follow docs/cr_info.schema.json: %v", image, err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInfoJSON: cr_info --json of a program with 5 threads says so, in a
// plain image, a compressed one and a checkpoint directory, each valid by
// the schema; a damaged image gets cr_info's usual error, exit status 1 and
// nothing on standard output.
func TestInfoJSON(t *testing.T) {
	hh, p, _, _ := startThreads(t, 2)

	plain, zst, dir := hh.path("plain.img"), hh.path("zstd.img"), hh.path("dir")
	hh.checkpoint("--run", p.pid, plain, wait30) // validated by the harness
	if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--run", "--compress=zstd", "-f", zst, strconv.Itoa(p.pid)); r.code != 0 {
		t.Fatalf("checkpoint --compress=zstd:\n%s", r)
	}
	if r := hh.run(wait30, bin(t, "cr_checkpoint"), "--run", "-d", dir, strconv.Itoa(p.pid)); r.code != 0 {
		t.Fatalf("checkpoint -d:\n%s", r)
	}
	for _, img := range []string{plain, zst, dir} {
		m := hh.checkInfoJSON(img)
		procs, _ := m["processes"].([]any)
		if len(procs) != 1 {
			t.Fatalf("%s: %d processes, want 1", img, len(procs))
		}
		pm := procs[0].(map[string]any)
		if pid, _ := pm["pid"].(float64); int(pid) != p.pid {
			t.Errorf("%s: pid %v, want %d", img, pm["pid"], p.pid)
		}
		if th, _ := pm["threads"].([]any); len(th) != 5 {
			t.Errorf("%s: %d threads, want 5 (main and 4 workers)", img, len(th))
		}
		if pages, _ := pm["pages"].([]any); len(pages) == 0 {
			t.Errorf("%s: no pages records", img)
		}
		if img == dir && pm["image_file"] == nil {
			t.Errorf("%s: a process of a directory without its image_file", img)
		}
	}

	// A damaged page: the same error as cr_info's, and no JSON at all.
	b, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	bad := hh.path("bad.img")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	text := hh.run(wait30, bin(t, "cr_info"), bad)
	js := hh.run(wait30, bin(t, "cr_info"), "--json", bad)
	if js.code != 1 || text.code != 1 {
		t.Fatalf("damaged image: cr_info exit %d, --json exit %d, want 1 and 1\n%s\n%s", text.code, js.code, text, js)
	}
	if js.stdout != "" {
		t.Fatalf("damaged image: cr_info --json printed %q", js.stdout)
	}
	if !bytes.Equal([]byte(js.stderr), []byte(text.stderr)) {
		t.Errorf("damaged image: --json says %q, plain cr_info %q", js.stderr, text.stderr)
	}
}
