package schemas

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Schema is the subset of JSON Schema that the reflected tool schemas use.
type Schema struct {
	Type                 string             `json:"type"`
	Description          string             `json:"description"`
	Properties           map[string]*Schema `json:"properties"`
	Required             []string           `json:"required"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
	Items                *Schema            `json:"items"`
	Enum                 []any              `json:"enum"`
	Minimum              *float64           `json:"minimum"`
	Maximum              *float64           `json:"maximum"`
	ExclusiveMinimum     *float64           `json:"exclusiveMinimum"`
	ExclusiveMaximum     *float64           `json:"exclusiveMaximum"`
	MinItems             *int               `json:"minItems"`
	MaxItems             *int               `json:"maxItems"`
	MinLength            *int               `json:"minLength"`
	MaxLength            *int               `json:"maxLength"`

	extra *Schema // parsed AdditionalProperties when it is a schema
	names string  // the allowed property names, for messages
}

// Parse reads a schema for validation.
func Parse(raw []byte) (*Schema, error) {
	var s Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("schemas: parse: %w", err)
	}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Schema) prepare() error {
	if len(s.AdditionalProperties) > 0 && s.AdditionalProperties[0] == '{' {
		s.extra = &Schema{}
		if err := json.Unmarshal(s.AdditionalProperties, s.extra); err != nil {
			return fmt.Errorf("schemas: additionalProperties: %w", err)
		}
		if err := s.extra.prepare(); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(s.Properties))
	for name, p := range s.Properties {
		names = append(names, name)
		if err := p.prepare(); err != nil {
			return err
		}
	}
	sort.Strings(names)
	s.names = strings.Join(names, ", ")
	if s.Items != nil {
		return s.Items.prepare()
	}
	return nil
}

// maxProblems caps the problems one Validate reports, so that hostile input
// (thousands of unknown keys) cannot make an error message without bound.
const maxProblems = 20

// maxPathLen caps the parameter path quoted in one problem.
const maxPathLen = 200

// problems collects what is wrong, up to maxProblems; the rest are counted.
type problems struct {
	list []string
	more int
}

func (p *problems) add(path, text string) {
	if len(p.list) >= maxProblems {
		p.more++
		return
	}
	if len(path) > maxPathLen {
		cut := maxPathLen
		for cut > 0 && !utf8.RuneStart(path[cut]) {
			cut--
		}
		path = path[:cut] + "..."
	}
	p.list = append(p.list, path+": "+text)
}

// Validate checks args (as decoded by encoding/json into any) against s and
// returns the problems found (the first maxProblems of them), each naming the
// parameter and what is allowed.
func (s *Schema) Validate(args any) error {
	var out problems
	s.check("", args, &out)
	if len(out.list) == 0 {
		return nil
	}
	if out.more > 0 {
		out.list = append(out.list, fmt.Sprintf("and %d more problem(s)", out.more))
	}
	return &Error{Problems: out.list}
}

// Error lists what is wrong with a tool's arguments.
type Error struct{ Problems []string }

func (e *Error) Error() string { return strings.Join(e.Problems, "; ") }

func (s *Schema) check(path string, v any, out *problems) {
	name := path
	if name == "" {
		name = "arguments"
	}
	add := func(format string, a ...any) { out.add(name, fmt.Sprintf(format, a...)) }
	if !typeMatches(s.Type, v) {
		add("expected %s, got %s", article(s.Type), describe(v))
		return
	}
	if len(s.Enum) > 0 && !slices.ContainsFunc(s.Enum, func(e any) bool { return equal(e, v) }) {
		add("%s is not allowed (allowed: %s)", describe(v), quote(s.Enum))
		return
	}
	switch x := v.(type) {
	case map[string]any:
		s.checkObject(path, x, out)
	case []any:
		if s.MinItems != nil && len(x) < *s.MinItems {
			add("needs at least %d item(s), got %d", *s.MinItems, len(x))
		}
		if s.MaxItems != nil && len(x) > *s.MaxItems {
			add("allows at most %d item(s), got %d", *s.MaxItems, len(x))
		}
		if s.Items != nil {
			for i, item := range x {
				s.Items.check(fmt.Sprintf("%s[%d]", path, i), item, out)
			}
		}
	case float64:
		if !s.inRange(x) {
			add("%s is out of range (allowed: %s)", num(x), s.rangeText())
		}
	case string:
		n := utf8.RuneCountInString(x)
		if s.MinLength != nil && n < *s.MinLength {
			add("must not be empty")
		}
		if s.MaxLength != nil && n > *s.MaxLength {
			add("is %d characters long; at most %d allowed", n, *s.MaxLength)
		}
	}
}

func (s *Schema) checkObject(path string, obj map[string]any, out *problems) {
	prefix := path
	if prefix != "" {
		prefix += "."
	}
	for _, req := range s.Required {
		if _, ok := obj[req]; !ok {
			out.add(prefix+req, "required")
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := obj[k]
		if p, ok := s.Properties[k]; ok {
			if val == nil && !slices.Contains(s.Required, k) {
				continue // an explicit null on an optional parameter means "not set"
			}
			p.check(prefix+k, val, out)
			continue
		}
		switch {
		case s.extra != nil:
			s.extra.check(prefix+k, val, out)
		case string(s.AdditionalProperties) == "false":
			where := "parameter"
			if path != "" {
				where = "field of " + path
			}
			out.add(prefix+k, fmt.Sprintf("unknown %s (allowed: %s)", where, s.names))
		}
	}
}

// inRange applies minimum, maximum and their exclusive forms.
func (s *Schema) inRange(x float64) bool {
	return (s.Minimum == nil || x >= *s.Minimum) && (s.Maximum == nil || x <= *s.Maximum) &&
		(s.ExclusiveMinimum == nil || x > *s.ExclusiveMinimum) && (s.ExclusiveMaximum == nil || x < *s.ExclusiveMaximum)
}

func (s *Schema) rangeText() string {
	var parts []string
	switch {
	case s.Minimum != nil && s.Maximum != nil:
		return num(*s.Minimum) + " to " + num(*s.Maximum)
	case s.Minimum != nil:
		parts = append(parts, "at least "+num(*s.Minimum))
	case s.ExclusiveMinimum != nil:
		parts = append(parts, "above "+num(*s.ExclusiveMinimum))
	}
	switch {
	case s.Maximum != nil:
		parts = append(parts, "at most "+num(*s.Maximum))
	case s.ExclusiveMaximum != nil:
		parts = append(parts, "below "+num(*s.ExclusiveMaximum))
	}
	return strings.Join(parts, " and ")
}

func typeMatches(t string, v any) bool {
	switch t {
	case "":
		return true
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f) && math.Abs(f) <= 1<<53
	}
	return false
}

func equal(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && fa == fb
	}
	return a == b
}

func article(t string) string {
	switch t {
	case "integer", "object", "array":
		return "an " + t
	}
	return "a " + t
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 60 {
			cut := 57
			for cut > 0 && !utf8.RuneStart(x[cut]) {
				cut--
			}
			x = x[:cut] + "..."
		}
		return strconv.Quote(x)
	case float64:
		return num(x)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
