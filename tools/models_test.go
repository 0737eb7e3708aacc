package tools_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// startTools registers the tools (only some, with default models) and returns an
// initialized in-process client; keyFor gives the key per call (a caller's key).
func startTools(t *testing.T, fake *nanogpttest.Server, keyFor func(ctx context.Context) string, only []string, defaults map[string]string) *client.Client {
	t.Helper()
	base := nanogpt.New(nanogpt.Config{BaseURL: fake.URL, Timeout: 10 * time.Second})
	cl, _ := startClient(t, tools.Deps{
		Client: func(ctx context.Context) (*nanogpt.Client, error) { return base.WithKey(keyFor(ctx)), nil },
	}, only, defaults, nil)
	return cl
}

func callTool(t *testing.T, cl *client.Client, ctx context.Context, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	var req mcp.CallToolRequest
	req.Params.Name, req.Params.Arguments = name, args
	res, err := cl.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

type keyCtx struct{}

func fixedKey(key string) func(context.Context) string {
	return func(ctx context.Context) string {
		if k, ok := ctx.Value(keyCtx{}).(string); ok {
			return k
		}
		return key
	}
}

const textCatalogue = `{"object":"list","data":[
 {"id":"openai/gpt-5.1","name":"GPT 5.1","context_length":400000,"capabilities":{"vision":true,"reasoning":true,"structured_output":true,"tool_calling":false},
  "pricing":{"prompt":1.25,"completion":10,"currency":"USD","unit":"per_million_tokens"}},
 {"id":"anthropic/claude-sonnet-4.5","name":"Claude Sonnet 4.5","context_length":"200000","capabilities":{"vision":true},"pricing":{"prompt":"3","completion":"15"}},
 {"id":"meta/llama-3.3-70b","name":"Llama 3.3 70B","description":"open weights","pricing":{"prompt":0.1,"completion":0.3}}]}`

func TestListModels(t *testing.T) {
	fake := nanogpttest.New(testKey)
	defer fake.Close()
	var hits atomic.Int32
	fake.Handle("GET /api/v1/models", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Query().Get("detailed") != "true" {
			t.Errorf("models query %q lacks detailed=true", r.URL.RawQuery)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(textCatalogue))
	})
	fake.Handle("GET /api/v1/image-models", func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.JSON(w, map[string]any{"data": []any{map[string]any{"id": "hidream", "name": "HiDream",
			"supported_parameters": map[string]any{"resolutions": []any{"1024x1024", map[string]any{"value": "512x512"}}, "max_images": 4},
			"pricing":              map[string]any{"per_image": map[string]any{"1024*1024": 0.005}}}}})
	})
	fake.Handle("GET /api/v1/audio-models", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("type") != "tts" {
			t.Errorf("audio models query %q, want type=tts", r.URL.RawQuery)
		}
		nanogpttest.JSON(w, map[string]any{"data": []any{map[string]any{"id": "Kokoro-82m", "supported_parameters": map[string]any{"voices": []any{"af_bella", "am_adam"}},
			"pricing": map[string]any{"per_thousand_chars": 0.001}}}})
	})
	cl := startTools(t, fake, fixedKey(testKey), nil, nil)
	ctx := context.Background()

	res := callTool(t, cl, ctx, "listModels", map[string]any{"kind": "text", "search": "GPT"})
	if res.IsError {
		t.Fatal(text(res))
	}
	var out tools.ListModelsOutput
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &out)
	if out.Matched != 1 || len(out.Models) != 1 || out.Models[0].ID != "openai/gpt-5.1" || out.Models[0].ContextLength != 400000 ||
		!slices.Equal(out.Models[0].Capabilities, []string{"reasoning", "structured_output", "vision"}) || out.Models[0].Price != "$1.25/M input, $10/M output" {
		t.Errorf("search result = %+v", out)
	}
	if got := text(res); !strings.Contains(got, "openai/gpt-5.1 (GPT 5.1) · $1.25/M input, $10/M output · 400k context · reasoning, structured_output, vision") {
		t.Errorf("text = %q", got)
	}
	res = callTool(t, cl, ctx, "listModels", map[string]any{"kind": "text", "limit": 2})
	b, _ = json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &out)
	if out.Matched != 3 || len(out.Models) != 2 || !strings.Contains(text(res), "the first 2") {
		t.Errorf("limit: matched %d listed %d, text %q", out.Matched, len(out.Models), text(res))
	}
	if out.Models[1].ContextLength != 200000 || out.Models[1].Price != "$3/M input, $15/M output" {
		t.Errorf("numbers sent as strings were not read: %+v", out.Models[1])
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the catalogue was fetched %d times; the second call must come from the cache", n)
	}

	res = callTool(t, cl, ctx, "listModels", map[string]any{"kind": "image"})
	if got := text(res); !strings.Contains(got, "hidream (HiDream) · $0.005 per 1024x1024 image · sizes 1024x1024 512x512") {
		t.Errorf("image models text = %q", got)
	}
	res = callTool(t, cl, ctx, "listModels", map[string]any{"kind": "speech"})
	if got := text(res); !strings.Contains(got, "Kokoro-82m · $0.001 per 1k characters · voices af_bella am_adam") {
		t.Errorf("speech models text = %q", got)
	}
	if res := callTool(t, cl, ctx, "listModels", map[string]any{"kind": "music"}); !res.IsError || !strings.Contains(text(res), `"text", "image", "speech", "transcription", "video"`) {
		t.Errorf("bad kind: %q", text(res))
	}
}

// TestListModelsCacheIsPerKey checks that one caller's catalogue is never served
// to another caller with another key.
func TestListModelsCacheIsPerKey(t *testing.T) {
	fake := nanogpttest.New("") // accepts any key; the handler answers per key
	defer fake.Close()
	fake.Handle("GET /api/v1/models", func(w http.ResponseWriter, r *http.Request) {
		// The key in capitals names it: the key itself would be redacted from the result.
		nanogpttest.JSON(w, map[string]any{"data": []any{map[string]any{"id": "model-for-" + strings.ToUpper(r.Header.Get("x-api-key"))}}})
	})
	cl := startTools(t, fake, fixedKey("alice"), nil, nil)
	for _, key := range []string{"alice", "bob", "alice"} {
		res := callTool(t, cl, context.WithValue(context.Background(), keyCtx{}, key), "listModels", map[string]any{"kind": "text"})
		if !strings.Contains(text(res), "model-for-"+strings.ToUpper(key)) {
			t.Errorf("%s saw %q", key, text(res))
		}
	}
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("%d catalogue requests, want 2 (one per key, the repeat cached)", n)
	}
}

func TestCheckBalance(t *testing.T) {
	fake := nanogpttest.New(testKey)
	defer fake.Close()
	fake.Handle("POST /api/check-balance", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"usd_balance":"129.46956147","nano_balance":26.71801147,"nanoDepositAddress":"nano_1abc"}`))
	})
	cl := startTools(t, fake, fixedKey(testKey), nil, nil)
	res := callTool(t, cl, context.Background(), "checkBalance", map[string]any{})
	if res.IsError || text(res) != "NanoGPT balance: 129.46956147 USD, 26.71801147 XNO" {
		t.Errorf("balance: %q", text(res))
	}
	if sc := res.StructuredContent.(map[string]any); sc["usd"] != "129.46956147" || sc["nanoDepositAddress"] != "nano_1abc" {
		t.Errorf("structured = %v", sc)
	}
	if res := callTool(t, cl, context.Background(), "checkBalance", map[string]any{"extra": 1}); !res.IsError {
		t.Error("an unknown parameter was accepted")
	}
}

// TestDefaultModelsAndToolSelection: only the selected tools are listed, a tool
// with a default model advertises model as optional and names the default,
// and a call without model uses it.
func TestDefaultModelsAndToolSelection(t *testing.T) {
	fake := nanogpttest.New(testKey)
	defer fake.Close()
	fake.Handle("POST /api/v1/chat/completions", nanogpttest.ChatHandler(func(map[string]any) string { return "ok" }))
	cl := startTools(t, fake, fixedKey(testKey), []string{"ask", "listModels"}, map[string]string{"ask": "openai/gpt-5.1"})
	list, err := cl.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
		if tool.Name != "ask" {
			continue
		}
		var wire struct {
			InputSchema struct {
				Required   []string                                `json:"required"`
				Properties map[string]struct{ Description string } `json:"properties"`
			} `json:"inputSchema"`
		}
		b, _ := json.Marshal(tool)
		json.Unmarshal(b, &wire)
		schema := wire.InputSchema
		if slices.Contains(schema.Required, "model") || !strings.Contains(schema.Properties["model"].Description, "defaults to openai/gpt-5.1") ||
			!strings.Contains(tool.Description, "defaults to openai/gpt-5.1") {
			t.Errorf("ask with a default model: required %v, model %q, description %q", schema.Required, schema.Properties["model"].Description, tool.Description)
		}
	}
	if !slices.Equal(names, []string{"ask", "listModels"}) {
		t.Errorf("tools = %v, want only ask and listModels", names)
	}
	res := callTool(t, cl, context.Background(), "ask", map[string]any{"userPrompt": "hi"})
	if res.IsError {
		t.Fatal(text(res))
	}
	if r, _ := fake.Last("/api/v1/chat/completions"); r.JSON()["model"] != "openai/gpt-5.1" {
		t.Errorf("model sent = %v", r.JSON()["model"])
	}
	if res := callTool(t, cl, context.Background(), "ask", map[string]any{"userPrompt": "hi", "model": "other"}); res.IsError {
		t.Fatal(text(res))
	}
	if r, _ := fake.Last("/api/v1/chat/completions"); r.JSON()["model"] != "other" {
		t.Errorf("an explicit model must win over the default: %v", r.JSON()["model"])
	}
	s := server.NewMCPServer("x", "0")
	if err := tools.Register(s, tools.Deps{}, []string{"nope"}, nil); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown tool selected: %v", err)
	}
}
