package schemas_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/invopop/jsonschema"
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
			want, err := reflect(v, kind)
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

// reflect returns the flat JSON schema of v's type: top-level type object, every
// object inline (no $ref, no $defs, no $schema, no $id), no anyOf/oneOf unions.
// It fails when the result is not flat, so a type that would need a union or a
// reference is caught at generation time. kind is "in" or "out": output schemas
// carry no descriptions, since every tools/list spends them from the
// assistant's context and the field names say enough; nor do they forbid
// additional properties, so that a result may grow without breaking clients.
func reflect(v any, kind string) ([]byte, error) {
	r := &jsonschema.Reflector{DoNotReference: true, Anonymous: true, AllowAdditionalProperties: kind == "out"}
	s := r.Reflect(v)
	s.Version = ""
	if kind == "out" {
		dropDescriptions(s)
	}
	if err := checkSchemas(s, "arguments"); err != nil {
		return nil, fmt.Errorf("schemas: %T: %w", v, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("schemas: encode %T: %w", v, err)
	}
	out := buf.Bytes()
	for _, banned := range []string{`"$ref"`, `"$defs"`, `"anyOf"`, `"oneOf"`, `"allOf"`, `"$schema"`, `"$id"`} {
		if bytes.Contains(out, []byte(banned)) {
			return nil, fmt.Errorf("schemas: the schema of %T is not flat: it contains %s", v, banned)
		}
	}
	return out, nil
}

// checkSchemas refuses a property or item schema that says nothing (it would
// be encoded as the boolean true, which the TypeScript SDK rejects): give such
// a field a type with a jsonschema:"type=…" tag.
func checkSchemas(s *jsonschema.Schema, path string) error {
	if s.Items != nil {
		if err := checkSchemas(s.Items, path+"[]"); err != nil {
			return err
		}
	}
	if s.Properties == nil {
		return nil
	}
	for p := s.Properties.Oldest(); p != nil; p = p.Next() {
		b, err := json.Marshal(p.Value)
		if err != nil {
			return err
		}
		if string(b) == "true" {
			return fmt.Errorf("%s.%s has an empty schema; give it a type", path, p.Key)
		}
		if err := checkSchemas(p.Value, path+"."+p.Key); err != nil {
			return err
		}
	}
	return nil
}

func dropDescriptions(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	s.Description = ""
	dropDescriptions(s.Items)
	if s.Properties != nil {
		for p := s.Properties.Oldest(); p != nil; p = p.Next() {
			dropDescriptions(p.Value)
		}
	}
}
