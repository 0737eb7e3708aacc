package tools

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
)

// modelCacheTTL is how long a fetched catalogue is reused.
const modelCacheTTL = 5 * time.Minute

// ListModelsInput is the input of listModels.
type ListModelsInput struct {
	Kind   string `json:"kind" jsonschema:"enum=text,enum=image,enum=speech,enum=transcription,enum=video" jsonschema_description:"text (ask), image, speech, transcription or video models."`
	Search string `json:"search,omitempty" jsonschema_description:"Filter by id, name or description."`
	Limit  *int   `json:"limit,omitempty" jsonschema:"minimum=1,maximum=500" jsonschema_description:"Most models to list (default 40)."`
}

// ModelInfo is one model in listModels' result.
type ModelInfo struct {
	ID              string   `json:"id" jsonschema_description:"The id to pass as model."`
	Name            string   `json:"name,omitempty" jsonschema_description:"Display name."`
	Price           string   `json:"price,omitempty" jsonschema_description:"Price, as NanoGPT lists it."`
	Capabilities    []string `json:"capabilities,omitempty" jsonschema_description:"What it can do, e.g. vision, reasoning, structured_output, tool_calling."`
	ContextLength   int      `json:"contextLength,omitempty" jsonschema_description:"Context window in tokens (text models)."`
	MaxOutputTokens int      `json:"maxOutputTokens,omitempty" jsonschema_description:"Longest completion in tokens (text models)."`
	Sizes           []string `json:"sizes,omitempty" jsonschema_description:"Supported sizes (image models)."`
	MaxImages       int      `json:"maxImages,omitempty" jsonschema_description:"Most images per call (image models)."`
	Voices          []string `json:"voices,omitempty" jsonschema_description:"Voices (speech models)."`
}

// ListModelsOutput is the structured result of listModels.
type ListModelsOutput struct {
	Kind    string      `json:"kind" jsonschema_description:"The catalogue listed."`
	Matched int         `json:"matched" jsonschema_description:"How many models matched (may be more than listed)."`
	Models  []ModelInfo `json:"models" jsonschema_description:"The models, in NanoGPT's order."`
}

// modelCache keeps catalogues per kind and per key, so that one caller's view
// (which can depend on the key's subscription) is never served to another.
type modelCache struct {
	mu      sync.Mutex
	entries map[string]modelEntry
}

type modelEntry struct {
	models []nanogpt.Model
	at     time.Time
}

func (mc *modelCache) get(ctx context.Context, c *nanogpt.Client, kind nanogpt.ModelKind) ([]nanogpt.Model, error) {
	key := string(kind) + "/" + c.KeyID()
	mc.mu.Lock()
	e, ok := mc.entries[key]
	mc.mu.Unlock()
	if ok && time.Since(e.at) < modelCacheTTL {
		return e.models, nil
	}
	models, err := c.ListModels(ctx, kind)
	if err != nil {
		return nil, err
	}
	mc.mu.Lock()
	if mc.entries == nil {
		mc.entries = map[string]modelEntry{}
	}
	for k, old := range mc.entries { // drop stale entries so the cache stays small
		if time.Since(old.at) >= modelCacheTTL {
			delete(mc.entries, k)
		}
	}
	mc.entries[key] = modelEntry{models: models, at: time.Now()}
	mc.mu.Unlock()
	return models, nil
}

// ListModels is the listModels tool.
func (toolset) ListModels() definition {
	cache := &modelCache{}
	return tool[ListModelsInput, ListModelsOutput]{
		Spec: Spec{
			Name:  "listModels",
			Title: "List NanoGPT models",
			Description: "List NanoGPT models of a kind with ids, prices and capabilities (vision, reasoning, sizes, voices), " +
				"to pick a model id. Free.",
			Summary:  "find model ids and prices",
			ReadOnly: true, Idempotent: true,
		},
		keyOptional: true,
		run: func(ctx context.Context, c *call, in *ListModelsInput) (*ListModelsOutput, []mcp.Content, error) {
			models, err := cache.get(ctx, c.client, kindOf[in.Kind])
			if err != nil {
				return nil, nil, err
			}
			limit := 40
			if in.Limit != nil {
				limit = *in.Limit
			}
			q := strings.ToLower(strings.TrimSpace(in.Search))
			out := ListModelsOutput{Kind: in.Kind, Models: []ModelInfo{}}
			var lines []string
			for _, m := range models {
				if q != "" && !strings.Contains(strings.ToLower(m.ID+"\n"+m.Name+"\n"+m.Description), q) {
					continue
				}
				out.Matched++
				if len(out.Models) >= limit {
					continue
				}
				info := ModelInfo{ID: m.ID, Name: m.Name, Price: m.Price, Capabilities: m.Capabilities, ContextLength: m.ContextLength,
					MaxOutputTokens: m.MaxOutputTokens, Sizes: m.Sizes, MaxImages: m.MaxImages, Voices: m.Voices}
				out.Models = append(out.Models, info)
				lines = append(lines, modelLine(info))
			}
			head := fmt.Sprintf("%d %s model(s)", out.Matched, in.Kind)
			if q != "" {
				head += fmt.Sprintf(" matching %q", in.Search)
			}
			if out.Matched > len(out.Models) {
				head += fmt.Sprintf("; the first %d (narrow with search, or raise limit)", len(out.Models))
			}
			return &out, []mcp.Content{mcp.NewTextContent(head + ":\n" + strings.Join(lines, "\n"))}, nil
		},
	}
}

var kindOf = map[string]nanogpt.ModelKind{"text": nanogpt.TextModels, "image": nanogpt.ImageModels, "speech": nanogpt.SpeechModels, "transcription": nanogpt.TranscriptionModels, "video": nanogpt.VideoModels}

// modelLine is one compact line per model, for the model to read.
func modelLine(m ModelInfo) string {
	parts := []string{m.ID}
	if m.Name != "" && m.Name != m.ID {
		parts[0] += " (" + m.Name + ")"
	}
	if m.Price != "" {
		parts = append(parts, m.Price)
	}
	if m.ContextLength > 0 {
		parts = append(parts, fmt.Sprintf("%dk context", m.ContextLength/1000))
	}
	if len(m.Capabilities) > 0 {
		parts = append(parts, strings.Join(m.Capabilities, ", "))
	}
	if len(m.Sizes) > 0 {
		parts = append(parts, "sizes "+strings.Join(m.Sizes, " "))
	}
	if len(m.Voices) > 0 {
		v := m.Voices
		if len(v) > 12 {
			v = append(v[:12:12], fmt.Sprintf("and %d more", len(m.Voices)-12))
		}
		parts = append(parts, "voices "+strings.Join(v, " "))
	}
	return "- " + strings.Join(parts, " · ")
}
