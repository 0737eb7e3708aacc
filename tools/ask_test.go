package tools_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

const testKey = "sk-nano-test-key"

// harness is a real MCP client talking to the tools through mcp-go, with a
// fake NanoGPT behind them.
type harness struct {
	t      *testing.T
	fake   *nanogpttest.Server
	client *client.Client
	server *server.MCPServer
	root   string // the allowed folder

	mu            sync.Mutex
	notifications []mcp.JSONRPCNotification
}

func newHarness(t *testing.T, key string) *harness {
	t.Helper()
	return newHarnessWith(t, key, tools.Media{})
}

// newHarnessWith is newHarness with a media output policy. NanoGPT's jobs are
// polled every few milliseconds.
func newHarnessWith(t *testing.T, key string, media tools.Media) *harness {
	t.Helper()
	fake := nanogpttest.New(testKey)
	t.Cleanup(fake.Close)
	h := &harness{t: t, fake: fake, root: t.TempDir()}
	c := nanogpt.New(nanogpt.Config{BaseURL: fake.URL, APIKey: key, Timeout: 10 * time.Second})
	h.client, h.server = startClient(t, tools.Deps{
		Client: func(context.Context) (*nanogpt.Client, error) { return c, nil },
		Files:  tools.Files{Roots: []string{h.root}},
		Media:  media,
		Poll:   nanogpt.PollOptions{Interval: 2 * time.Millisecond, MaxWait: 5 * time.Second},
	}, nil, nil, func(n mcp.JSONRPCNotification) {
		h.mu.Lock()
		h.notifications = append(h.notifications, n)
		h.mu.Unlock()
	})
	return h
}

// startClient registers the tools on a new server and returns an initialized
// in-process MCP client on it; onNotify (may be nil) sees every notification.
func startClient(t *testing.T, d tools.Deps, only []string, defaults map[string]string, onNotify func(mcp.JSONRPCNotification)) (*client.Client, *server.MCPServer) {
	t.Helper()
	s := server.NewMCPServer("test", "0", server.WithToolCapabilities(false))
	if err := tools.Register(s, d, only, defaults); err != nil {
		t.Fatal(err)
	}
	cl, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	ctx := context.Background()
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if onNotify != nil {
		cl.OnNotification(onNotify)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "0"}
	if _, err := cl.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return cl, s
}

func (h *harness) call(name string, args map[string]any, meta *mcp.Meta) *mcp.CallToolResult {
	h.t.Helper()
	var req mcp.CallToolRequest
	req.Params.Name = name
	req.Params.Arguments = args
	req.Params.Meta = meta
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := h.client.CallTool(ctx, req)
	if err != nil {
		h.t.Fatalf("%s: protocol error %v (tool failures must be isError results)", name, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func errorCode(res *mcp.CallToolResult) string {
	if res.Meta == nil {
		return ""
	}
	code, _ := res.Meta.AdditionalFields["errorCode"].(string)
	return code
}

// chatBody returns the JSON body of the last chat request, and its raw keys.
func (h *harness) chatBody() map[string]any {
	h.t.Helper()
	r, ok := h.fake.Last("/api/v1/chat/completions")
	if !ok {
		h.t.Fatal("no chat request reached NanoGPT")
	}
	return r.JSON()
}

func echoChat(h *harness) {
	h.fake.Handle("POST /api/v1/chat/completions", nanogpttest.ChatHandler(func(map[string]any) string { return "The answer is 4." }))
}

func TestAskSimpleWireFormat(t *testing.T) {
	h := newHarness(t, testKey)
	echoChat(h)
	res := h.call("ask", map[string]any{
		"model": "openai/gpt-5.1", "systemPrompt": "Be brief.", "userPrompt": "2+2?",
		"temperature": 0, "topP": 0.5, "topK": 40, "stop": []any{"\n\n"}, "reasoning": "low", "mirostatMode": 2,
		"seed": 7, "logitBias": map[string]any{"50256": -100}, "maxTokens": 64, "repetitionPenalty": 1.1,
	}, nil)
	if res.IsError {
		t.Fatalf("unexpected error: %s", text(res))
	}
	if got := mcp.GetTextFromContent(res.Content[0]); got != "The answer is 4." {
		t.Errorf("first text block = %q, want the answer alone", got)
	}
	if got := mcp.GetTextFromContent(res.Content[1]); got != "[openai/gpt-5.1 · 29 tokens (9 in, 20 out) · cost USD 0.000169]" {
		t.Errorf("second text block = %q, want model, tokens and cost", got)
	}
	body := h.chatBody()
	msgs := body["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || msgs[1].(map[string]any)["role"] != "user" {
		t.Fatalf("messages = %v, want system then user", msgs)
	}
	if msgs[1].(map[string]any)["content"] != "2+2?" {
		t.Errorf("user content = %v, want the plain prompt string", msgs[1].(map[string]any)["content"])
	}
	want := map[string]any{"temperature": 0.0, "top_p": 0.5, "top_k": 40.0, "reasoning_effort": "low", "mirostat_mode": 2.0,
		"seed": 7.0, "max_tokens": 64.0, "repetition_penalty": 1.1}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %#v, want %#v", k, body[k], v)
		}
	}
	if lb := body["logit_bias"].(map[string]any); lb["50256"] != -100.0 {
		t.Errorf("logit_bias = %v", lb)
	}
	for _, absent := range []string{"frequency_penalty", "presence_penalty", "min_p", "tfs", "typical_p", "top_a", "verbosity", "user", "response_format", "stream", "logprobs", "max_completion_tokens"} {
		if _, ok := body[absent]; ok {
			t.Errorf("%s was sent although unset", absent)
		}
	}
	var out tools.AskOutput
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Answer != "The answer is 4." || out.Model != "openai/gpt-5.1" || out.FinishReason != "stop" ||
		out.Usage == nil || out.Usage.TotalTokens != 29 || out.Cost == nil || out.Cost.Amount != 0.000169 {
		t.Errorf("structured content = %+v", out)
	}
}

func TestAskAdvancedKeepsOrder(t *testing.T) {
	h := newHarness(t, testKey)
	echoChat(h)
	res := h.call("ask", map[string]any{"model": "m", "messages": []any{
		map[string]any{"role": "system", "content": "S"},
		map[string]any{"role": "user", "content": "U1"},
		map[string]any{"role": "assistant", "content": "A1"},
		map[string]any{"role": "user", "content": "U2"},
	}}, nil)
	if res.IsError {
		t.Fatal(text(res))
	}
	var got []string
	for _, m := range h.chatBody()["messages"].([]any) {
		mm := m.(map[string]any)
		got = append(got, mm["role"].(string)+":"+mm["content"].(string))
	}
	if strings.Join(got, ",") != "system:S,user:U1,assistant:A1,user:U2" {
		t.Errorf("messages = %v", got)
	}
}

func TestAskFormatRules(t *testing.T) {
	h := newHarness(t, testKey)
	echoChat(h)
	msgs := []any{map[string]any{"role": "user", "content": "hi"}}
	cases := []struct {
		name string
		args map[string]any
		want string
	}{
		{"neither", map[string]any{"model": "m"}, "userPrompt or messages is required"},
		{"both", map[string]any{"model": "m", "userPrompt": "x", "messages": msgs}, "both given"},
		{"simple without prompt", map[string]any{"model": "m", "format": "SIMPLE", "messages": msgs}, "userPrompt: required with format SIMPLE"},
		{"advanced without messages", map[string]any{"model": "m", "format": "ADVANCED", "userPrompt": "x"}, "messages: required with format ADVANCED"},
		{"advanced with system prompt", map[string]any{"model": "m", "format": "ADVANCED", "messages": msgs, "systemPrompt": "s"}, "belong to format SIMPLE"},
		{"attachment on assistant", map[string]any{"model": "m", "messages": []any{map[string]any{"role": "assistant", "content": "a", "attachments": []any{map[string]any{"url": "https://x.test/a.png"}}}}}, "only user messages"},
	}
	for _, c := range cases {
		res := h.call("ask", c.args, nil)
		if !res.IsError || !strings.Contains(text(res), c.want) || errorCode(res) != tools.CodeInvalidArgument {
			t.Errorf("%s: got isError=%v code=%q %q, want invalid_argument containing %q", c.name, res.IsError, errorCode(res), text(res), c.want)
		}
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests reached NanoGPT for invalid input", n)
	}
	// The format is inferred when omitted.
	if res := h.call("ask", map[string]any{"model": "m", "messages": msgs}, nil); res.IsError {
		t.Errorf("messages without format: %s", text(res))
	}
}

func TestAskValidationNamesParameterAndAllowedValues(t *testing.T) {
	h := newHarness(t, testKey)
	echoChat(h)
	cases := []struct {
		args map[string]any
		want []string
	}{
		{map[string]any{"model": "m", "userPrompt": "x", "reasoning": "extreme"}, []string{"reasoning", `"extreme"`, `"none", "minimal", "low", "medium", "high", "xhigh"`}},
		{map[string]any{"model": "m", "userPrompt": "x", "temperature": 3}, []string{"temperature", "3 is out of range", "0 to 2"}},
		{map[string]any{"model": "m", "userPrompt": "x", "presencePenalty": -2.5}, []string{"presencePenalty", "-2 to 2"}},
		{map[string]any{"model": "m", "userPrompt": "x", "topLogprobs": 21}, []string{"topLogprobs", "0 to 20"}},
		{map[string]any{"model": "m", "userPrompt": "x", "mirostatMode": 3}, []string{"mirostatMode", "0, 1, 2"}},
		{map[string]any{"model": "m", "userPrompt": "x", "stop": []any{"a", "b", "c", "d", "e"}}, []string{"stop", "at most 4"}},
		{map[string]any{"model": "m", "userPrompt": "x", "maxTokens": "100"}, []string{"maxTokens", "expected an integer", `"100"`}},
		{map[string]any{"model": "m", "userPrompt": "x", "topK": 1.5}, []string{"topK", "expected an integer"}},
		{map[string]any{"model": "m", "userPrompt": "x", "temprature": 1}, []string{"temprature", "unknown parameter", "temperature"}},
		{map[string]any{"userPrompt": "x"}, []string{"model: required"}},
		{map[string]any{"model": "m", "messages": []any{map[string]any{"role": "robot", "content": "x"}}}, []string{"messages[0].role", `"system", "user", "assistant"`}},
		{map[string]any{"model": "m", "userPrompt": "x", "response": map[string]any{"responseFormat": "XML"}}, []string{"response.responseFormat", `"TEXT", "JSON"`}},
		{map[string]any{"model": "m", "userPrompt": "x", "logitBias": map[string]any{"1": 200}}, []string{"logitBias.1", "-100 to 100"}},
	}
	for _, c := range cases {
		res := h.call("ask", c.args, nil)
		got := text(res)
		if !res.IsError || errorCode(res) != tools.CodeInvalidArgument {
			t.Errorf("%v: want an invalid_argument error, got %q", c.args, got)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%v: error %q does not contain %q", c.args, got, w)
			}
		}
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests reached NanoGPT for invalid input", n)
	}
	// The server keeps serving after bad input.
	if res := h.call("ask", map[string]any{"model": "m", "userPrompt": "x"}, nil); res.IsError {
		t.Errorf("valid call after invalid ones failed: %s", text(res))
	}
}

func TestAskAttachments(t *testing.T) {
	h := newHarness(t, testKey)
	echoChat(h)
	png := []byte("\x89PNG\r\n\x1a\n fake png bytes")
	if err := os.WriteFile(filepath.Join(h.root, "cat.png"), png, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.root, "notes.md"), []byte("# Notes\nbuy milk"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataURL := "data:image/webp;base64," + base64.StdEncoding.EncodeToString([]byte("webp"))
	res := h.call("ask", map[string]any{"model": "m", "userPrompt": "Describe", "attachments": []any{
		map[string]any{"url": "https://example.com/photo.jpg"},
		map[string]any{"url": dataURL},
		map[string]any{"url": "cat.png"},
		map[string]any{"url": filepath.Join(h.root, "notes.md")},
	}}, nil)
	if res.IsError {
		t.Fatal(text(res))
	}
	parts := h.chatBody()["messages"].([]any)[0].(map[string]any)["content"].([]any)
	if len(parts) != 5 {
		t.Fatalf("parts = %v", parts)
	}
	get := func(i int, key ...string) any {
		var v any = parts[i]
		for _, k := range key {
			v = v.(map[string]any)[k]
		}
		return v
	}
	if get(0, "type") != "text" || get(0, "text") != "Describe" {
		t.Errorf("first part = %v, want the prompt text", parts[0])
	}
	if get(1, "image_url", "url") != "https://example.com/photo.jpg" {
		t.Errorf("https image not passed through: %v", parts[1])
	}
	if get(2, "image_url", "url") != dataURL {
		t.Errorf("data URL not passed as is: %v", parts[2])
	}
	if get(3, "image_url", "url") != "data:image/png;base64,"+base64.StdEncoding.EncodeToString(png) {
		t.Errorf("local image not sent as a data URL: %v", parts[3])
	}
	if get(4, "type") != "text" || get(4, "text") != "File: notes.md\n\n# Notes\nbuy milk" {
		t.Errorf("text file not inlined under its name: %v", parts[4])
	}
}

func TestAskAttachmentErrors(t *testing.T) {
	h := newHarness(t, testKey)
	echoChat(h)
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.root, "song.mp3"), []byte("ID3"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, (10<<20)+1)
	if err := os.WriteFile(filepath.Join(h.root, "big.png"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		outside: {"attachments[0].url", "outside the allowed folders"},
		"../" + filepath.Base(filepath.Dir(outside)) + "/secret.txt": {"attachments[0].url", "outside the allowed folders"},
		"song.mp3":               {"attachments[0]", "audio/mpeg", "not support", "png, jpeg"},
		"big.png":                {"attachments[0].url", "at most 10 MB"},
		"gopher://example.com/a": {"attachments[0].url", `"gopher" scheme is not supported`},
		"missing.txt":            {"attachments[0].url", "does not exist"},
	}
	for url, wants := range cases {
		res := h.call("ask", map[string]any{"model": "m", "userPrompt": "x", "attachments": []any{map[string]any{"url": url}}}, nil)
		for _, w := range wants {
			if !res.IsError || !strings.Contains(text(res), w) {
				t.Errorf("%s: got %q, want an error containing %q", url, text(res), w)
			}
		}
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests reached NanoGPT for refused attachments", n)
	}
}

func TestAskJSONResponse(t *testing.T) {
	h := newHarness(t, testKey)
	reply := `{"answer": 4}`
	h.fake.Handle("POST /api/v1/chat/completions", nanogpttest.ChatHandler(func(map[string]any) string { return reply }))

	schema := `{"title":"math answer","type":"object","properties":{"answer":{"type":"number"}},"required":["answer"],"additionalProperties":false}`
	res := h.call("ask", map[string]any{"model": "m", "userPrompt": "2+2", "response": map[string]any{"responseFormat": "JSON", "responseSchema": schema}}, nil)
	if res.IsError {
		t.Fatal(text(res))
	}
	rf := h.chatBody()["response_format"].(map[string]any)
	js := rf["json_schema"].(map[string]any)
	if rf["type"] != "json_schema" || js["strict"] != true || js["name"] != "math_answer" || js["schema"].(map[string]any)["type"] != "object" {
		t.Errorf("response_format = %v", rf)
	}
	sc := res.StructuredContent.(map[string]any)
	if m, ok := sc["json"].(map[string]any); !ok || m["answer"] != 4.0 {
		t.Errorf("parsed JSON = %#v", sc["json"])
	}

	if res := h.call("ask", map[string]any{"model": "m", "userPrompt": "2+2", "response": map[string]any{"responseFormat": "JSON"}}, nil); res.IsError {
		t.Fatal(text(res))
	}
	if rf := h.chatBody()["response_format"].(map[string]any); rf["type"] != "json_object" || rf["json_schema"] != nil {
		t.Errorf("response_format without schema = %v, want json_object", rf)
	}

	reply = "four"
	res = h.call("ask", map[string]any{"model": "m", "userPrompt": "2+2", "response": map[string]any{"responseFormat": "JSON"}}, nil)
	if !res.IsError || errorCode(res) != tools.CodeInvalidJSON || !strings.Contains(text(res), "four") {
		t.Errorf("non-JSON reply: got %q (code %q), want invalid_json_reply showing the reply", text(res), errorCode(res))
	}
	res = h.call("ask", map[string]any{"model": "m", "userPrompt": "x", "response": map[string]any{"responseFormat": "JSON", "responseSchema": "{not json"}}, nil)
	if !res.IsError || !strings.Contains(text(res), "response.responseSchema") {
		t.Errorf("bad schema: %q", text(res))
	}
}

func TestAskUpstreamErrors(t *testing.T) {
	cases := []struct {
		status int
		header string
		body   string
		code   string
		want   []string
	}{
		{401, "", `{"error":{"message":"Invalid API key","type":"authentication_error","code":"invalid_api_key"}}`, tools.CodeUnauthorized, []string{"HTTP 401", "Invalid API key", "NANOGPT_API_KEY"}},
		{402, "", `{"error":"Insufficient balance","requiredBalance":0.0035,"status":402}`, tools.CodeInsufficientBalance, []string{"HTTP 402", "Insufficient balance", "Top up"}},
		{429, "7", `{"error":{"message":"Rate limit exceeded","type":"rate_limit_error","code":"rate_limit_exceeded"}}`, tools.CodeRateLimited, []string{"HTTP 429", "Wait 7 seconds"}},
		{400, "", `{"error":{"message":"blocked","type":"invalid_request_error","code":"content_policy_violation"}}`, tools.CodeContentPolicy, []string{"blocked", "content policy"}},
		{404, "", `{"error":{"message":"Model x not found","code":"model_not_found"}}`, tools.CodeModelNotFound, []string{"Model x not found", "model id"}},
		{503, "", `<html>Service Unavailable</html>`, tools.CodeUpstreamError, []string{"HTTP 503", "Service Unavailable", "try again"}},
	}
	h := newHarness(t, testKey)
	for _, c := range cases {
		h.fake.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
			if c.header != "" {
				w.Header().Set("Retry-After", c.header)
			}
			nanogpttest.Error(w, c.status, c.body)
		})
		res := h.call("ask", map[string]any{"model": "m", "userPrompt": "x"}, nil)
		if !res.IsError || errorCode(res) != c.code {
			t.Errorf("HTTP %d: isError=%v code=%q, want %q", c.status, res.IsError, errorCode(res), c.code)
		}
		for _, w := range c.want {
			if !strings.Contains(text(res), w) {
				t.Errorf("HTTP %d: %q does not contain %q", c.status, text(res), w)
			}
		}
		if st, _ := res.Meta.AdditionalFields["httpStatus"].(float64); int(st) != c.status {
			t.Errorf("HTTP %d: _meta.httpStatus = %v", c.status, res.Meta.AdditionalFields["httpStatus"])
		}
	}
}

func TestAskWithoutKey(t *testing.T) {
	h := newHarness(t, "")
	echoChat(h)
	res := h.call("ask", map[string]any{"model": "m", "userPrompt": "x"}, nil)
	if !res.IsError || errorCode(res) != tools.CodeUnauthorized || !strings.Contains(text(res), "NANOGPT_API_KEY") {
		t.Errorf("got %q", text(res))
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("a call without a key reached NanoGPT")
	}
}

func TestAskStreamsWithProgress(t *testing.T) {
	h := newHarness(t, testKey)
	answer := strings.Repeat("word ", 40)
	h.fake.Handle("POST /api/v1/chat/completions", nanogpttest.ChatHandler(func(map[string]any) string { return answer }))
	res := h.call("ask", map[string]any{"model": "m", "userPrompt": "x"}, &mcp.Meta{ProgressToken: "tok-1"})
	if res.IsError {
		t.Fatal(text(res))
	}
	if got := mcp.GetTextFromContent(res.Content[0]); got != answer {
		t.Errorf("streamed answer = %q", got)
	}
	body := h.chatBody()
	if body["stream"] != true || body["stream_options"].(map[string]any)["include_usage"] != true {
		t.Errorf("with a progress token the request must stream: %v", body)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		h.mu.Lock()
		var got []string
		for _, n := range h.notifications {
			if n.Method == "notifications/progress" {
				got = append(got, fmt.Sprint(n.Params.AdditionalFields["progressToken"], ":", n.Params.AdditionalFields["message"]))
			}
		}
		h.mu.Unlock()
		if len(got) > 0 {
			if !strings.HasPrefix(got[0], "tok-1:") {
				t.Errorf("progress = %v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress notification arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestToolsListIsFlatAndAnnotated(t *testing.T) {
	h := newHarness(t, testKey)
	res, err := h.client.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range res.Tools {
		b, _ := json.Marshal(tool)
		for _, banned := range []string{`"$ref"`, `"anyOf"`, `"oneOf"`, `"$schema"`} {
			if strings.Contains(string(b), banned) {
				t.Errorf("%s advertises %s", tool.Name, banned)
			}
		}
		a := tool.Annotations
		if a.ReadOnlyHint == nil || a.DestructiveHint == nil || a.IdempotentHint == nil || a.OpenWorldHint == nil || a.Title == "" {
			t.Errorf("%s: annotations incomplete: %+v", tool.Name, a)
		}
		if tool.Description == "" {
			t.Errorf("%s has no description", tool.Name)
		}
	}
}

// Finding 4 of issue 10: a completion without choices is no answer. It is an
// invalid_response tool error, streamed or not, never an empty success.
func TestAskWithoutChoicesIsInvalidResponse(t *testing.T) {
	for _, choices := range []string{`null`, `[]`} {
		for _, stream := range []bool{false, true} {
			h := newHarness(t, testKey)
			h.fake.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
				if stream {
					w.Header().Set("Content-Type", "text/event-stream")
					fmt.Fprintf(w, "data: {\"id\":\"x\",\"choices\":%s}\n\ndata: [DONE]\n\n", choices)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"id":"x","model":"m","choices":%s,"usage":{"prompt_tokens":1,"completion_tokens":0,"total_tokens":1}}`, choices)
			})
			var meta *mcp.Meta
			if stream {
				meta = &mcp.Meta{ProgressToken: "p"}
			}
			res := h.call("ask", map[string]any{"model": "m", "userPrompt": "hi"}, meta)
			if !res.IsError || errorCode(res) != tools.CodeInvalidResponse {
				t.Errorf("choices %s (stream %v): isError %v code %q: %s", choices, stream, res.IsError, errorCode(res), text(res))
			}
		}
	}
}

// Issue 11, attack 3: whatever NanoGPT (or a proxy in front of it) echoes of
// the key never reaches the caller: not in an answer, its structured content,
// an error, or its _meta.
func TestTheKeyNeverReachesTheCaller(t *testing.T) {
	h := newHarness(t, testKey)
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"answer", func(w http.ResponseWriter, r *http.Request) {
			nanogpttest.JSON(w, nanogpttest.ChatCompletion("model-"+testKey, "your key is "+testKey))
		}},
		{"error", func(w http.ResponseWriter, r *http.Request) {
			nanogpttest.Error(w, http.StatusBadRequest, `{"error":{"message":"bad `+testKey+`","code":"`+testKey+`","param":"`+testKey+`"}}`)
		}},
		{"non-JSON", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "proxy error for Bearer "+testKey)
		}},
	} {
		h.fake.Handle("POST /api/v1/chat/completions", tc.h)
		res := h.call("ask", map[string]any{"model": "m", "userPrompt": "hi"}, nil)
		b, _ := json.Marshal(res)
		if strings.Contains(string(b), testKey) {
			t.Errorf("%s: the result carries the key: %s", tc.name, b)
		}
	}
}
