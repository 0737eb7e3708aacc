package nanogpt

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// ModelKind selects a model catalogue.
type ModelKind string

// The model catalogues NanoGPT publishes.
const (
	TextModels          ModelKind = "text"
	ImageModels         ModelKind = "image"
	SpeechModels        ModelKind = "speech"
	TranscriptionModels ModelKind = "transcription"
	VideoModels         ModelKind = "video"
)

var modelPaths = map[ModelKind]string{
	TextModels:          "/api/v1/models?detailed=true",
	ImageModels:         "/api/v1/image-models?detailed=true",
	SpeechModels:        "/api/v1/audio-models?type=tts&detailed=true",
	TranscriptionModels: "/api/v1/audio-models?type=stt&detailed=true",
	// The video catalogue is /api/v1/video-models (its page, skills.md and the
	// OAuth page); the endpoint page's /api/v1/models lists text models only.
	VideoModels: "/api/v1/video-models?detailed=true",
}

// Model is one catalogue entry, reduced to what helps choose a model. Every
// field is optional: NanoGPT documents the catalogues as additive.
type Model struct {
	ID              string          `json:"id"`
	Name            string          `json:"name,omitempty"`
	Description     string          `json:"description,omitempty"`
	ContextLength   int             `json:"contextLength,omitempty"`
	MaxOutputTokens int             `json:"maxOutputTokens,omitempty"`
	Capabilities    []string        `json:"capabilities,omitempty"` // e.g. vision, reasoning, structured_output
	Price           string          `json:"price,omitempty"`        // human-readable, e.g. "$0.15/M input, $0.60/M output"
	Sizes           []string        `json:"sizes,omitempty"`        // image resolutions
	MaxImages       int             `json:"maxImages,omitempty"`
	Voices          []string        `json:"voices,omitempty"`
	Pricing         json.RawMessage `json:"pricing,omitempty"` // NanoGPT's pricing object as given
}

// KeyID identifies the client's key without revealing it (a short hash), for
// caches that must not mix callers.
func (c *Client) KeyID() string {
	if c.key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(c.key))
	return hex.EncodeToString(sum[:8])
}

// ListModels fetches a model catalogue.
func (c *Client) ListModels(ctx context.Context, kind ModelKind) (_ []Model, err error) {
	defer c.redact(&err)
	path, ok := modelPaths[kind]
	if !ok {
		return nil, fmt.Errorf("nanogpt: unknown model kind %q", kind)
	}
	var body struct {
		Data []rawModel `json:"data"`
	}
	if _, err := c.call(ctx, http.MethodGet, path, nil, "", &body); err != nil {
		return nil, err
	}
	out := make([]Model, 0, len(body.Data))
	for _, r := range body.Data {
		if m := r.model(kind); m.ID != "" {
			out = append(out, m)
		}
	}
	return out, nil
}

type rawModel struct {
	ID              string                     `json:"id"`
	Model           string                     `json:"model"`
	Name            string                     `json:"name"`
	Description     string                     `json:"description"`
	ContextLength   optFloat                   `json:"context_length"`
	MaxOutputTokens optFloat                   `json:"max_output_tokens"`
	Capabilities    map[string]json.RawMessage `json:"capabilities"`
	Pricing         json.RawMessage            `json:"pricing"`
	Supported       struct {
		Resolutions []json.RawMessage `json:"resolutions"`
		MaxImages   optFloat          `json:"max_images"`
		Voices      []json.RawMessage `json:"voices"`
	} `json:"supported_parameters"`
}

func (r rawModel) model(kind ModelKind) Model {
	m := Model{ID: cmp.Or(r.ID, r.Model), Name: r.Name, Description: r.Description,
		ContextLength: int(r.ContextLength.V), MaxOutputTokens: int(r.MaxOutputTokens.V), MaxImages: int(r.Supported.MaxImages.V)}
	for name, v := range r.Capabilities {
		if string(v) == "true" {
			m.Capabilities = append(m.Capabilities, name)
		}
	}
	sort.Strings(m.Capabilities)
	m.Sizes = labels(r.Supported.Resolutions)
	m.Voices = labels(r.Supported.Voices)
	if len(r.Pricing) > 0 && string(r.Pricing) != "null" {
		m.Pricing = r.Pricing
		m.Price = priceText(kind, r.Pricing)
	}
	return m
}

// labels reads a list of strings or of objects with a name/id/value.
func labels(raw []json.RawMessage) []string {
	var out []string
	for _, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out = append(out, s)
			continue
		}
		var o struct{ Value, Name, ID, Voice string }
		if json.Unmarshal(v, &o) == nil {
			if l := cmp.Or(o.Value, o.ID, o.Name, o.Voice); l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

// priceText summarises a pricing object; unknown shapes give "".
func priceText(kind ModelKind, raw json.RawMessage) string {
	var p map[string]json.RawMessage
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	num := func(k string) (float64, bool) {
		var f optFloat
		if v, ok := p[k]; ok && json.Unmarshal(v, &f) == nil && f.V != 0 {
			return f.V, true
		}
		return 0, false
	}
	money := func(f float64) string { return "$" + strconv.FormatFloat(f, 'g', 4, 64) }
	var parts []string
	switch kind {
	case TextModels:
		if v, ok := num("prompt"); ok {
			parts = append(parts, money(v)+"/M input")
		}
		if v, ok := num("completion"); ok {
			parts = append(parts, money(v)+"/M output")
		}
	case ImageModels:
		var per map[string]optFloat
		if v, ok := p["per_image"]; ok && json.Unmarshal(v, &per) == nil {
			sizes := make([]string, 0, len(per))
			for s := range per {
				sizes = append(sizes, s)
			}
			sort.Strings(sizes)
			for _, s := range sizes {
				parts = append(parts, fmt.Sprintf("%s per %s image", money(per[s].V), strings.ReplaceAll(s, "*", "x")))
			}
		} else if v, ok := num("per_image"); ok {
			parts = append(parts, money(v)+" per image")
		}
	default:
		for _, k := range []struct{ key, unit string }{{"per_thousand_chars", "1k characters"}, {"per_minute", "minute"}, {"per_second", "second"}} {
			if v, ok := num(k.key); ok {
				parts = append(parts, money(v)+" per "+k.unit)
			}
		}
	}
	return strings.Join(parts, ", ")
}
