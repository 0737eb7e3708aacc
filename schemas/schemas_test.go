package schemas_test

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/nanogpt-mcp/nanogpt-mcp/schemas"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

var update = flag.Bool("update", false, "rewrite the committed schemas from the Go types")

// TestCommittedSchemas fails when a tool's reflected schema differs from the
// committed file the server advertises. Regenerate on purpose with
// `go test ./schemas -update`.
func TestCommittedSchemas(t *testing.T) {
	for _, spec := range tools.Specs() {
		kinds := map[string]any{"in": spec.Input}
		if spec.Output != nil {
			kinds["out"] = spec.Output
		}
		for kind, v := range kinds {
			want, err := schemas.Reflect(v, kind)
			if err != nil {
				t.Fatal(err)
			}
			name := schemas.FileName(spec.Name, kind)
			if *update {
				if err := os.WriteFile(name, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatalf("%s: %v (run go test ./schemas -update)", name, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the schema reflected from %T; if the change is meant, run go test ./schemas -update and commit the file", name, v)
			}
		}
	}
}

// TestSchemasAreDescribed checks that every property of every input schema has
// a description, so the model knows what each parameter does.
func TestSchemasAreDescribed(t *testing.T) {
	if *update {
		t.Skip("checks the committed files, which -update is rewriting")
	}
	for _, spec := range tools.Specs() {
		raw, err := schemas.Committed(spec.Name, "in")
		if err != nil {
			t.Fatal(err)
		}
		s, err := schemas.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if s.Type != "object" {
			t.Errorf("%s: top-level type %q, want object", spec.Name, s.Type)
		}
		var walk func(path string, s *schemas.Schema)
		walk = func(path string, s *schemas.Schema) {
			for name, p := range s.Properties {
				if p.Description == "" {
					t.Errorf("%s: %s%s has no description", spec.Name, path, name)
				}
				walk(path+name+".", p)
				if p.Items != nil {
					walk(path+name+"[].", p.Items)
				}
			}
		}
		walk("", s)
	}
}
