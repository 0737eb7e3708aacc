package nanogpt

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

const chatKey = "sk-nano-0b1e7c44-chat-test-secret"

// chatFake starts a fake NanoGPT accepting chatKey and a client pointed at it.
func chatFake(t *testing.T) (*nanogpttest.Server, *Client) {
	t.Helper()
	fake := nanogpttest.New(chatKey)
	t.Cleanup(fake.Close)
	return fake, New(Config{BaseURL: fake.URL, APIKey: chatKey})
}

// chatLast returns the last chat request the fake received.
func chatLast(t *testing.T, fake *nanogpttest.Server) nanogpttest.Request {
	t.Helper()
	r, ok := fake.Last(chatPath)
	if !ok {
		t.Fatalf("the fake received no request to %s; got %d requests", chatPath, len(fake.Requests()))
	}
	return r
}

// chatRawBody decodes a request body into its top-level keys and raw values.
func chatRawBody(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("request body is not a JSON object: %v\n%s", err, body)
	}
	return m
}

func chatKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// chatJSONEqual reports whether two JSON texts hold the same value.
func chatJSONEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

func chatPtr[T any](v T) *T { return &v }

// chatOK answers every chat request with a fixed completion.
func chatOK(w http.ResponseWriter, r *http.Request) {
	nanogpttest.JSON(w, nanogpttest.ChatCompletion("m", "ok"))
}

func TestChatRequestHeadersAndPath(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, chatOK)
	resp, err := c.Chat(context.Background(), ChatRequest{Model: "openai/gpt-5.1", Messages: []Message{{Role: "user", Text: "hi"}}})
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if got := resp.First().Message.Content; got != "ok" {
		t.Errorf("content = %q, want ok", got)
	}
	r := chatLast(t, fake)
	if r.Method != http.MethodPost || r.Path != "/api/v1/chat/completions" || r.Query != "" {
		t.Errorf("request = %s %s?%s, want POST /api/v1/chat/completions", r.Method, r.Path, r.Query)
	}
	for h, want := range map[string]string{
		"Authorization": "Bearer " + chatKey,
		"X-Api-Key":     chatKey,
		"Content-Type":  "application/json",
		"Accept":        "application/json",
		"User-Agent":    "nanogpt-mcp",
	} {
		if got := r.Header.Values(h); len(got) != 1 || got[0] != want {
			t.Errorf("header %s = %q, want exactly [%q]", h, got, want)
		}
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("fake received %d requests, want 1", n)
	}
}

// chatWantWire is every ChatRequest field Chat sends, by wire name, with the
// value chatFullRequest sets.
var chatWantWire = map[string]string{
	"model":                 `"openai/gpt-5.1"`,
	"messages":              `[{"role":"user","content":"hi"}]`,
	"response_format":       `{"type":"json_object"}`,
	"frequency_penalty":     `0.5`,
	"logit_bias":            `{"50256":-100,"15":2.5}`,
	"logprobs":              `true`,
	"max_completion_tokens": `300`,
	"max_tokens":            `200`,
	"presence_penalty":      `-0.25`,
	"reasoning_effort":      `"high"`,
	"seed":                  `1234567890123`,
	"stop":                  `["END","\n\n"]`,
	"temperature":           `0.7`,
	"top_logprobs":          `5`,
	"top_k":                 `40`,
	"top_p":                 `0.9`,
	"verbosity":             `"low"`,
	"user":                  `"user-42"`,
	"min_p":                 `0.05`,
	"min_tokens":            `3`,
	"mirostat_mode":         `2`,
	"mirostat_tau":          `5.5`,
	"mirostat_eta":          `0.15`,
	"repetition_penalty":    `1.1`,
	"tfs":                   `0.95`,
	"top_a":                 `0.2`,
	"typical_p":             `0.8`,
}

func chatFullRequest() ChatRequest {
	return ChatRequest{
		Model:          "openai/gpt-5.1",
		Messages:       []Message{{Role: "user", Text: "hi"}},
		ResponseFormat: &ResponseFormat{Type: "json_object"},
		Sampling: Sampling{
			FrequencyPenalty:    chatPtr(0.5),
			LogitBias:           map[string]float64{"50256": -100, "15": 2.5},
			Logprobs:            chatPtr(true),
			MaxCompletionTokens: chatPtr(300),
			MaxTokens:           chatPtr(200),
			PresencePenalty:     chatPtr(-0.25),
			ReasoningEffort:     "high",
			Seed:                chatPtr(int64(1234567890123)),
			Stop:                []string{"END", "\n\n"},
			Temperature:         chatPtr(0.7),
			TopLogprobs:         chatPtr(5),
			TopK:                chatPtr(40),
			TopP:                chatPtr(0.9),
			Verbosity:           "low",
			User:                "user-42",
			MinP:                chatPtr(0.05),
			MinTokens:           chatPtr(3),
			MirostatMode:        chatPtr(2),
			MirostatTau:         chatPtr(5.5),
			MirostatEta:         chatPtr(0.15),
			RepetitionPenalty:   chatPtr(1.1),
			TFS:                 chatPtr(0.95),
			TopA:                chatPtr(0.2),
			TypicalP:            chatPtr(0.8),
		},
	}
}

func TestChatSendsEveryFieldUnderItsSnakeCaseName(t *testing.T) {
	// Guard: every ChatRequest field is covered by chatWantWire (except the
	// stream fields, which Chat clears), so a new field cannot go untested.
	rt := reflect.TypeOf(ChatRequest{})
	for _, f := range reflect.VisibleFields(rt) {
		if f.Anonymous {
			continue // Sampling: its fields are visited on their own
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "stream" || name == "stream_options" {
			continue
		}
		if _, ok := chatWantWire[name]; !ok {
			t.Errorf("ChatRequest.%s has wire name %q, which is not one the test expects (or it is new and untested)", f.Name, name)
		}
	}
	// Every field but Stream/StreamOptions must be set by chatFullRequest.
	v := reflect.ValueOf(chatFullRequest())
	for _, f := range reflect.VisibleFields(rt) {
		if n := f.Name; !f.Anonymous && n != "Stream" && n != "StreamOptions" && v.FieldByIndex(f.Index).IsZero() {
			t.Errorf("chatFullRequest leaves %s unset", n)
		}
	}

	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, chatOK)
	req := chatFullRequest()
	req.Stream = true // Chat is the non-streaming call: these must not be sent
	req.StreamOptions = &StreamOptions{IncludeUsage: true}
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	body := chatRawBody(t, chatLast(t, fake).Body)
	wantKeys := make([]string, 0, len(chatWantWire))
	for k := range chatWantWire {
		wantKeys = append(wantKeys, k)
	}
	sort.Strings(wantKeys)
	if got := chatKeys(body); !slices.Equal(got, wantKeys) {
		t.Errorf("body keys =\n %v\nwant\n %v", got, wantKeys)
	}
	for name, want := range chatWantWire {
		raw, ok := body[name]
		if !ok {
			continue // reported above
		}
		if !chatJSONEqual(t, raw, want) {
			t.Errorf("%s = %s, want %s", name, raw, want)
		}
	}
	// seed must survive as an exact integer, not a float that lost digits.
	if got := string(body["seed"]); got != "1234567890123" {
		t.Errorf("seed on the wire = %s, want 1234567890123", got)
	}
	// top_k, max_tokens etc. are integers on the wire (ByteChef's double is wrong).
	for _, k := range []string{"top_k", "max_tokens", "max_completion_tokens", "min_tokens", "mirostat_mode", "top_logprobs"} {
		if strings.ContainsAny(string(body[k]), ".eE") {
			t.Errorf("%s = %s, want an integer", k, body[k])
		}
	}
}

func TestChatOmitsUnsetFieldsAndSendsPointerZeros(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, chatOK)

	if _, err := c.Chat(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}}); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if got := chatKeys(chatRawBody(t, chatLast(t, fake).Body)); !slices.Equal(got, []string{"messages", "model"}) {
		t.Errorf("minimal request sent keys %v, want only [messages model]", got)
	}

	req := ChatRequest{
		Model:    "m",
		Messages: []Message{{Role: "user", Text: "hi"}},
		Sampling: Sampling{
			Temperature:      chatPtr(0.0),
			PresencePenalty:  chatPtr(0.0),
			Seed:             chatPtr(int64(0)),
			MinTokens:        chatPtr(0),
			MirostatMode:     chatPtr(0),
			Logprobs:         chatPtr(false),
			TopLogprobs:      chatPtr(0),
			FrequencyPenalty: nil,
		},
	}
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	body := chatRawBody(t, chatLast(t, fake).Body)
	want := map[string]string{"temperature": "0", "presence_penalty": "0", "seed": "0", "min_tokens": "0", "mirostat_mode": "0", "logprobs": "false", "top_logprobs": "0"}
	for k, v := range want {
		if got, ok := body[k]; !ok || string(got) != v {
			t.Errorf("%s = %q (present %v), want %s", k, got, ok, v)
		}
	}
	if got, wantN := len(body), len(want)+2; got != wantN {
		t.Errorf("body has keys %v, want exactly model, messages and %d pointer-zero fields", chatKeys(body), len(want))
	}
}

func TestChatMessagesKeepOrderAndContentShape(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, chatOK)
	req := ChatRequest{Model: "m", Messages: []Message{
		{Role: "system", Text: "be brief"},
		{Role: "user", Parts: []ContentPart{TextPart("what is this?"), ImagePart("https://example.com/cat.png")}},
		{Role: "assistant", Text: "a cat"},
		{Role: "user", Parts: []ContentPart{ImagePart("data:image/png;base64,iVBORw0KGgo="), TextPart("and this?")}},
		{Role: "user", Text: ""},
	}}
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	body := chatRawBody(t, chatLast(t, fake).Body)
	want := `[
		{"role":"system","content":"be brief"},
		{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]},
		{"role":"assistant","content":"a cat"},
		{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":"text","text":"and this?"}]},
		{"role":"user","content":""}
	]`
	if !chatJSONEqual(t, body["messages"], want) {
		t.Errorf("messages =\n%s\nwant\n%s", body["messages"], want)
	}
}

func TestChatMessageMarshalShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
		want string
	}{
		{"plain", Message{Role: "user", Text: "hello"}, `{"role":"user","content":"hello"}`},
		{"parts ignore Text", Message{Role: "user", Text: "ignored", Parts: []ContentPart{TextPart("x")}}, `{"role":"user","content":[{"type":"text","text":"x"}]}`},
		{"empty parts is an array", Message{Role: "user", Parts: []ContentPart{}}, `{"role":"user","content":[]}`},
		{"image only", Message{Role: "user", Parts: []ContentPart{ImagePart("https://x/y.jpg")}}, `{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.jpg"}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Marshal = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestChatResponseFormatJSONSchemaShape(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, chatOK)
	schema := `{"type":"object","properties":{"answer":{"type":"number"}},"required":["answer"],"additionalProperties":false}`
	for _, tc := range []struct {
		name string
		rf   *ResponseFormat
		want string
	}{
		{"strict", &ResponseFormat{Type: "json_schema", JSONSchema: &JSONSchema{Name: "math_answer", Strict: true, Schema: json.RawMessage(schema)}},
			`{"type":"json_schema","json_schema":{"name":"math_answer","strict":true,"schema":` + schema + `}}`},
		{"not strict keeps strict:false", &ResponseFormat{Type: "json_schema", JSONSchema: &JSONSchema{Name: "a", Schema: json.RawMessage(`{"type":"object"}`)}},
			`{"type":"json_schema","json_schema":{"name":"a","strict":false,"schema":{"type":"object"}}}`},
		{"json_object", &ResponseFormat{Type: "json_object"}, `{"type":"json_object"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Chat(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "2+2"}}, ResponseFormat: tc.rf}); err != nil {
				t.Fatalf("Chat: %v", err)
			}
			got := chatRawBody(t, chatLast(t, fake).Body)["response_format"]
			if !chatJSONEqual(t, got, tc.want) {
				t.Errorf("response_format = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestChatDecodesTypedResponse(t *testing.T) {
	fake, c := chatFake(t)
	const answer = `{"id":"chatcmpl-abc123","object":"chat.completion","created":1769278225,"model":"openai/gpt-5.1",
	 "choices":[{"index":0,"message":{"role":"assistant","content":"The answer is 4.","reasoning":"2+2=4"},"finish_reason":"length",
	   "logprobs":{"content":[{"token":"The","logprob":-0.01,"top_logprobs":[]}]}}],
	 "usage":{"prompt_tokens":9,"completion_tokens":20,"total_tokens":29,
	          "prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":12}},
	 "x_nanogpt_pricing":{"cost":0.000169,"amount":0.0002,"currency":"USD","inputTokens":9,"outputTokens":20,"cacheCost":0,"paymentSource":"USD","billedToTeam":false,"unknownKey":{"x":1}}}`
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	})
	resp, err := c.Chat(context.Background(), ChatRequest{Model: "openai/gpt-5.1", Messages: []Message{{Role: "user", Text: "2+2"}}})
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if resp.ID != "chatcmpl-abc123" || resp.Model != "openai/gpt-5.1" {
		t.Errorf("id/model = %q/%q", resp.ID, resp.Model)
	}
	ch := resp.First()
	if ch.Message.Role != "assistant" || ch.Message.Content != "The answer is 4." {
		t.Errorf("message = %+v", ch.Message)
	}
	if ch.Message.Reasoning != "2+2=4" || ch.Message.ReasoningText() != "2+2=4" {
		t.Errorf("reasoning = %q / ReasoningText %q, want 2+2=4", ch.Message.Reasoning, ch.Message.ReasoningText())
	}
	if ch.FinishReason != "length" {
		t.Errorf("finish_reason = %q, want length", ch.FinishReason)
	}
	if !chatJSONEqual(t, ch.Logprobs, `{"content":[{"token":"The","logprob":-0.01,"top_logprobs":[]}]}`) {
		t.Errorf("logprobs = %s", ch.Logprobs)
	}
	u := resp.Usage
	if u == nil || u.PromptTokens != 9 || u.CompletionTokens != 20 || u.TotalTokens != 29 {
		t.Fatalf("usage = %+v", u)
	}
	if u.PromptTokensDetails == nil || u.PromptTokensDetails.CachedTokens != 3 {
		t.Errorf("prompt_tokens_details = %+v, want cached_tokens 3", u.PromptTokensDetails)
	}
	if u.CompletionTokensDetails == nil || u.CompletionTokensDetails.ReasoningTokens != 12 {
		t.Errorf("completion_tokens_details = %+v, want reasoning_tokens 12", u.CompletionTokensDetails)
	}
	p := resp.Pricing
	if p == nil {
		t.Fatal("x_nanogpt_pricing not decoded")
	}
	if p.Cost == nil || *p.Cost != 0.000169 || p.Amount == nil || *p.Amount != 0.0002 || p.Currency != "USD" ||
		p.InputTokens != 9 || p.OutputTokens != 20 || p.CacheCost == nil || *p.CacheCost != 0 || p.PaymentSource != "USD" {
		t.Errorf("pricing = %+v", p)
	}
}

func TestChatDecodesLegacyReasoningContentAndMissingExtras(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi","reasoning_content":"thinking..."},"finish_reason":"stop"}]}`)
	})
	resp, err := c.Chat(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}})
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	m := resp.First().Message
	if m.ReasoningContent != "thinking..." || m.ReasoningText() != "thinking..." {
		t.Errorf("reasoning_content = %q, ReasoningText = %q, want thinking...", m.ReasoningContent, m.ReasoningText())
	}
	if resp.Usage != nil || resp.Pricing != nil {
		t.Errorf("usage/pricing = %+v/%+v, want nil when absent", resp.Usage, resp.Pricing)
	}
	if len(resp.First().Logprobs) != 0 {
		t.Errorf("logprobs = %s, want empty when absent", resp.First().Logprobs)
	}
	// reasoning wins over reasoning_content when both are present.
	both := ChoiceMessage{Reasoning: "a", ReasoningContent: "b"}
	if both.ReasoningText() != "a" {
		t.Errorf("ReasoningText with both = %q, want a", both.ReasoningText())
	}
	if (&ChatResponse{}).First().Message.Content != "" {
		t.Error("First on no choices is not the zero Choice")
	}
}

func TestChatWithSharedChatHandler(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, nanogpttest.ChatHandler(func(req map[string]any) string {
		msgs := req["messages"].([]any)
		return "echo: " + msgs[len(msgs)-1].(map[string]any)["content"].(string)
	}))
	resp, err := c.Chat(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "one"}, {Role: "user", Text: "two"}}})
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if got := resp.First().Message.Content; got != "echo: two" {
		t.Errorf("content = %q, want echo: two", got)
	}
	if resp.Usage == nil || resp.Usage.TotalTokens != 29 || resp.Pricing == nil || resp.Pricing.Cost == nil {
		t.Errorf("usage/pricing missing: %+v %+v", resp.Usage, resp.Pricing)
	}
}
