// Package schemas reflects the tools' Go input and output structs into flat JSON
// schemas, holds the committed copies that the server advertises, and validates
// tool arguments against them with messages a model can act on.
//
// The server advertises the committed files, not a fresh reflection: start-up
// does no reflection, and a change to a tool's public schema shows up as a diff
// in review. TestCommittedSchemas fails when reflection and files differ;
// `go test ./schemas -update` rewrites the files on purpose.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/invopop/jsonschema"
)

//go:embed *.json
var committed embed.FS

// Reflect returns the flat JSON schema of v's type: top-level type object, every
// object inline (no $ref, no $defs, no $schema, no $id), no anyOf/oneOf unions.
// It fails when the result is not flat, so a type that would need a union or a
// reference is caught at generation time. kind is "in" or "out": output schemas
// carry no descriptions, since every tools/list spends them from the
// assistant's context and the field names say enough; nor do they forbid
// additional properties, so that a result may grow without breaking clients.
func Reflect(v any, kind string) ([]byte, error) {
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

// FileName is the committed file of a tool's input ("in") or output ("out") schema.
func FileName(tool, kind string) string { return tool + "." + kind + ".json" }

// Committed returns the committed schema of tool's input ("in") or output ("out").
func Committed(tool, kind string) (json.RawMessage, error) {
	b, err := committed.ReadFile(FileName(tool, kind))
	if err != nil {
		return nil, fmt.Errorf("schemas: no committed %s schema for %s (run go test ./schemas -update): %w", kind, tool, err)
	}
	return compact(b)
}

func compact(b []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, fmt.Errorf("schemas: compact: %w", err)
	}
	return buf.Bytes(), nil
}

// quote renders an enum value list as `"a", "b"`.
func quote(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		b, _ := json.Marshal(v)
		parts[i] = string(b)
	}
	return strings.Join(parts, ", ")
}

// WithDefaultModel returns a tool's input schema with its model parameter made
// optional and its description naming the default.
func WithDefaultModel(raw json.RawMessage, model string) (json.RawMessage, error) {
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("schemas: parse: %w", err)
	}
	p, ok := s.Properties.Get("model")
	if !ok {
		return nil, fmt.Errorf("schemas: the schema has no model parameter")
	}
	p.MinLength = nil
	p.Description = strings.TrimSpace(p.Description + " Optional here: defaults to " + model + ".")
	s.Required = slices.DeleteFunc(s.Required, func(r string) bool { return r == "model" })
	out, err := json.Marshal(&s)
	if err != nil {
		return nil, fmt.Errorf("schemas: encode: %w", err)
	}
	return out, nil
}
