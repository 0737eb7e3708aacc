package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/nanogpt-mcp/nanogpt-mcp/schemas"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the README's tool reference from the schemas")

const (
	toolsBegin = "<!-- tool reference: generated from schemas/ by go test . -run TestReadmeToolReference -update-readme -->"
	toolsEnd   = "<!-- end of tool reference -->"
)

// TestReadmeToolReference fails when the README's tool reference differs from
// what the committed schemas say.
func TestReadmeToolReference(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), toolsBegin)
	end := strings.Index(string(readme), toolsEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md lacks the markers %q … %q", toolsBegin, toolsEnd)
	}
	want := toolsBegin + "\n" + toolReference(t) + toolsEnd
	got := string(readme[start : end+len(toolsEnd)])
	if got == want {
		return
	}
	if *updateReadme {
		out := string(readme[:start]) + want + string(readme[end+len(toolsEnd):])
		if err := os.WriteFile("README.md", []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Error("README.md's tool reference is out of date; run go test . -run TestReadmeToolReference -update-readme")
}

// toolReference renders every tool's description and parameters as Markdown.
func toolReference(t *testing.T) string {
	var b strings.Builder
	for _, spec := range tools.Specs() {
		raw, err := schemas.Committed(spec.Name, "in")
		if err != nil {
			t.Fatal(err)
		}
		var s docSchema
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\n### `%s`: %s\n\n%s\n\n", spec.Name, spec.Title, spec.Description)
		if len(s.Order) == 0 {
			b.WriteString("No parameters.\n")
			continue
		}
		b.WriteString("| parameter | type | required | allowed | description |\n| --- | --- | --- | --- | --- |\n")
		s.rows(&b, "")
	}
	return b.String() + "\n"
}

// docSchema is a JSON schema read with its property order kept.
type docSchema struct {
	Type        string
	Description string
	Enum        []any
	Minimum     *float64
	Maximum     *float64
	ExclMinimum *float64
	MaxItems    *int
	Required    []string
	Items       *docSchema
	Props       map[string]*docSchema
	Order       []string
}

func (s *docSchema) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type        string          `json:"type"`
		Description string          `json:"description"`
		Enum        []any           `json:"enum"`
		Minimum     *float64        `json:"minimum"`
		Maximum     *float64        `json:"maximum"`
		ExclMinimum *float64        `json:"exclusiveMinimum"`
		MaxItems    *int            `json:"maxItems"`
		Required    []string        `json:"required"`
		Items       *docSchema      `json:"items"`
		Properties  json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = docSchema{Type: raw.Type, Description: raw.Description, Enum: raw.Enum, Minimum: raw.Minimum, Maximum: raw.Maximum, ExclMinimum: raw.ExclMinimum,
		MaxItems: raw.MaxItems, Required: raw.Required, Items: raw.Items}
	if len(raw.Properties) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw.Properties, &s.Props); err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw.Properties)))
	dec.Token() // {
	for dec.More() {
		key, _ := dec.Token()
		s.Order = append(s.Order, key.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

func (s *docSchema) rows(b *strings.Builder, prefix string) {
	for _, name := range s.Order {
		p := s.Props[name]
		typ := p.Type
		if p.Type == "array" && p.Items != nil {
			typ = p.Items.Type + "[]"
		}
		req := ""
		for _, r := range s.Required {
			if r == name {
				req = "yes"
			}
		}
		fmt.Fprintf(b, "| `%s%s` | %s | %s | %s | %s |\n", prefix, name, typ, req, p.allowed(), strings.ReplaceAll(p.Description, "|", "\\|"))
		switch {
		case p.Type == "object" && len(p.Order) > 0:
			p.rows(b, prefix+name+".")
		case p.Type == "array" && p.Items != nil && len(p.Items.Order) > 0:
			p.Items.rows(b, prefix+name+"[].")
		}
	}
}

func (s *docSchema) allowed() string {
	var parts []string
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = fmt.Sprint(v)
		}
		if len(vals) > 12 {
			vals = append(vals[:12], fmt.Sprintf("… (%d codes)", len(s.Enum)))
		}
		parts = append(parts, strings.Join(vals, ", "))
	}
	switch {
	case s.Minimum != nil && s.Maximum != nil:
		parts = append(parts, fmt.Sprintf("%g to %g", *s.Minimum, *s.Maximum))
	case s.ExclMinimum != nil && s.Maximum != nil:
		parts = append(parts, fmt.Sprintf("> %g, ≤ %g", *s.ExclMinimum, *s.Maximum))
	case s.Minimum != nil:
		parts = append(parts, fmt.Sprintf("≥ %g", *s.Minimum))
	case s.Maximum != nil:
		parts = append(parts, fmt.Sprintf("≤ %g", *s.Maximum))
	}
	if s.MaxItems != nil {
		parts = append(parts, fmt.Sprintf("at most %d", *s.MaxItems))
	}
	return strings.Join(parts, "; ")
}

// TestReadmeListsEveryFlag fails when a flag or its environment twin is missing
// from the README's configuration table.
func TestReadmeListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var help strings.Builder
	_, _ = parseConfig([]string{"--help"}, func(string) string { return "" }, &help, &help)
	for _, line := range strings.Split(help.String(), "\n") {
		if strings.HasPrefix(line, "  -") {
			name := "--" + strings.Fields(strings.TrimPrefix(line, "  -"))[0]
			if !strings.Contains(string(readme), "`"+name+"`") {
				t.Errorf("README.md does not document %s", name)
			}
		}
		for _, word := range strings.FieldsFunc(line, func(r rune) bool { return r == '[' || r == ']' || r == ' ' || r == '$' }) {
			if strings.HasPrefix(word, "NANOGPT_") && !strings.Contains(string(readme), word) {
				t.Errorf("README.md does not mention %s", word)
			}
		}
	}
}
