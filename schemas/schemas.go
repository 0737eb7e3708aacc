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

// The committed schemas are reflected from the tools' Go types by a test.
//go:generate go test . -update

//go:embed *.json
var committed embed.FS

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
