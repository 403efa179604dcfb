package image

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/invopop/jsonschema"
)

// schemaPath is the schema of cr_info --json as documented.
var schemaPath = filepath.Join("..", "..", "docs", "cr_info.schema.json")

// TestJSONSchema: docs/cr_info.schema.json is the schema of JSONImage as the
// code has it now, so the documented schema cannot drift from what cr_info
// prints. STASIS_UPDATE_SCHEMA=1 writes it anew (and the schema version
// must then be thought about: see JSONVersion).
func TestJSONSchema(t *testing.T) {
	r := &jsonschema.Reflector{AllowAdditionalProperties: true}
	s := r.Reflect(&JSONImage{})
	s.ID = "https://stasis.invalid/schemas/cr_info/1"
	s.Title = "cr_info --json, schema version 1"
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if os.Getenv("STASIS_UPDATE_SCHEMA") != "" {
		if err := os.WriteFile(schemaPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old, b) {
		t.Fatalf("%s is not the schema of JSONImage as the code has it: run STASIS_UPDATE_SCHEMA=1 go test -run TestJSONSchema ./internal/image, and bump JSONVersion if a field changed meaning or went away", schemaPath)
	}
}
