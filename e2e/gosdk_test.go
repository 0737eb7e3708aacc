package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	gosdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// The official MCP Go SDK client (a client we did not write) on every
// transport and in both protocol eras: it lists the tools, compiles every
// schema, calls every tool, validates every structured result, watches
// progress on the wire, and cancels a call.

const (
	v2025 = "2025-11-25"
	v2026 = "2026-07-28"
)

type sdkCase struct {
	transport, version string
	want               string // the version the session must end up on
}

func TestGoSDK(t *testing.T) {
	cases := []sdkCase{
		{"stdio", v2025, v2025}, {"stdio", v2026, v2026},
		{"http", v2025, v2025}, {"http", v2026, v2026},
		// Legacy SSE has no 2026-07-28 era: the client falls back.
		{"sse", v2025, v2025}, {"sse", v2026, v2025},
	}
	for _, tc := range cases {
		t.Run(tc.transport+"/"+tc.version, func(t *testing.T) {
			t.Parallel()
			runSDKCase(t, tc)
		})
	}
}

// wireLog records what the client read and wrote (LoggingTransport).
type wireLog struct{ lockedBuffer }

type wireMsg struct {
	dir    string // "read" or "write"
	ID     json.RawMessage
	Method string
	Params struct {
		ProgressToken any            `json:"progressToken"`
		RequestID     any            `json:"requestId"`
		Name          string         `json:"name"`
		Arguments     map[string]any `json:"arguments"`
		Meta          map[string]any `json:"_meta"`
	}
	Result json.RawMessage
	Error  json.RawMessage
}

func (l *wireLog) messages(t *testing.T) []wireMsg {
	t.Helper()
	var out []wireMsg
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		dir, data, ok := strings.Cut(sc.Text(), ": ")
		if !ok || (dir != "read" && dir != "write") {
			continue
		}
		m := wireMsg{dir: dir}
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("wire log: %v: %.200s", err, data)
		}
		out = append(out, m)
	}
	return out
}

// authTransport adds the access token to every request.
type authTransport struct{}

func (authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return http.DefaultTransport.RoundTrip(r)
}

func connectSDK(t *testing.T, tc sdkCase, fake *nanogpttest.Docs, wire *wireLog, progress func(*gosdk.ProgressNotificationClientRequest)) *gosdk.ClientSession {
	t.Helper()
	vars := []string{"NANOGPT_API_KEY=" + serverKey, "NANOGPT_BASE_URL=" + fake.URL, "NANOGPT_MCP_POLL_INTERVAL=20ms",
		"NANOGPT_MCP_OUTPUT_DIR=" + t.TempDir()}
	var tr gosdk.Transport
	switch tc.transport {
	case "stdio":
		cmd := exec.Command(bin)
		cmd.Env = serverEnv(vars...)
		stderr := &lockedBuffer{}
		cmd.Stderr = stderr
		t.Cleanup(func() { noSecrets(t, "the server's log", stderr.String()) })
		tr = &gosdk.CommandTransport{Command: cmd}
	case "http":
		base := startHTTP(t, append(vars, "NANOGPT_MCP_AUTH_TOKENS="+token))
		tr = &gosdk.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: &http.Client{Transport: authTransport{}}}
	case "sse":
		base := startHTTP(t, append(vars, "NANOGPT_MCP_AUTH_TOKENS="+token))
		tr = &gosdk.SSEClientTransport{Endpoint: base + "/sse", HTTPClient: &http.Client{Transport: authTransport{}}}
	}
	client := gosdk.NewClient(&gosdk.Implementation{Name: "go-sdk-e2e", Version: "1"}, &gosdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *gosdk.ProgressNotificationClientRequest) { progress(req) },
	})
	// The context outlives Connect: the SSE transport's stream lives on it.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cs, err := client.Connect(ctx, &gosdk.LoggingTransport{Transport: tr, Writer: wire}, &gosdk.ClientSessionOptions{ProtocolVersion: tc.version})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// realisticCalls are one call of every tool, with realistic arguments.
func realisticCalls() map[string]map[string]any {
	png := "data:image/png;base64," + base64.StdEncoding.EncodeToString(nanogpttest.PNG)
	wav := "data:audio/wav;base64," + base64.StdEncoding.EncodeToString(nanogpttest.Audio)
	return map[string]map[string]any{
		"ask": {"model": "openai/gpt-5.2", "userPrompt": "What is 2+2?", "systemPrompt": "Be brief.",
			"attachments": []any{map[string]any{"url": png, "name": "dot.png"}}},
		"createImage": {"model": "hidream", "imageMessages": []any{map[string]any{"content": "a lighthouse at dusk"}, map[string]any{"content": "blur", "weight": -1}},
			"size": "1024x1024", "n": 2, "responseFormat": "b64_json", "seed": 7, "guidanceScale": 7.5, "numInferenceSteps": 30, "user": "u1", "output": "inline"},
		"createSpeech":        {"model": "Elevenlabs-Turbo-V2.5", "input": "Hello there.", "voice": "Rachel", "responseFormat": "wav", "speed": 1.2, "output": "inline"},
		"createTranscription": {"model": "Elevenlabs-STT", "file": map[string]any{"url": wav, "name": "hello.wav"}, "language": "en"},
		"createVideo": {"model": "veo2-video", "prompt": "a lighthouse at dusk, waves", "inputImage": map[string]any{"url": png, "name": "dot.png"},
			"duration": 5, "aspectRatio": "16:9", "resolution": "720p", "negativePrompt": "blur", "seed": 7, "generateAudio": false, "wait": 30, "output": "url"},
		// getJob waits for a job that outlasted its call: a createVideo with wait 0 (see runSDKCase).
		"getJob":       {"wait": 30},
		"listModels":   {"kind": "video", "search": "veo", "limit": 5},
		"checkBalance": {},
	}
}

// askEverything sets every parameter of ask (ADVANCED, JSON with a schema).
func askEverything() map[string]any {
	return map[string]any{
		"model": "openai/gpt-5.2", "format": "ADVANCED",
		"messages":         []any{map[string]any{"role": "system", "content": "Answer in JSON."}, map[string]any{"role": "user", "content": "2+2?"}},
		"response":         map[string]any{"responseFormat": "JSON", "responseSchema": `{"type":"object","properties":{"answer":{"type":"number"}},"required":["answer"],"additionalProperties":false}`},
		"frequencyPenalty": 0.5, "logitBias": map[string]any{"50256": -100}, "logprobs": true, "maxCompletionTokens": 300,
		"maxTokens": 200, "presencePenalty": -0.5, "reasoning": "low", "seed": 42, "stop": []any{"END"}, "temperature": 0.7,
		"topLogprobs": 3, "topK": 40.0, "topP": 0.9, "verbosity": "low", "user": "u1", "minP": 0.05, "minTokens": 1,
		"mirostatMode": 2, "mirostatTau": 5, "mirostatEta": 0.1, "repetitionPenalty": 1.1, "tfs": 0.95, "topA": 0.2, "typicalP": 0.8,
	}
}

func compile(t *testing.T, what string, schema any) *jsonschema.Resolved {
	t.Helper()
	b, err := json.Marshal(schema)
	if err != nil {
		t.Fatal(err)
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s does not parse as a JSON Schema: %v", what, err)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatalf("%s does not compile: %v", what, err)
	}
	return rs
}

func runSDKCase(t *testing.T, tc sdkCase) {
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	fake.Set(func(d *nanogpttest.Docs) {
		d.SpeechAsync, d.TranscribeAsync, d.Polls = true, true, 2
		d.Chat = func(req map[string]any) string {
			if req["response_format"] != nil {
				return `{"answer":4}`
			}
			return "4"
		}
	})
	var (
		mu    sync.Mutex
		byTok = map[string]int{}
		wire  = &wireLog{}
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs := connectSDK(t, tc, fake, wire, func(req *gosdk.ProgressNotificationClientRequest) {
		mu.Lock()
		byTok[jsonText(req.Params.ProgressToken)]++
		mu.Unlock()
	})
	if got := cs.InitializeResult().ProtocolVersion; got != tc.want {
		t.Errorf("negotiated %s, want %s", got, tc.want)
	}

	// Every tool, every schema.
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	outSchemas := map[string]*jsonschema.Resolved{}
	var names []string
	for _, tool := range lt.Tools {
		names = append(names, tool.Name)
		compile(t, tool.Name+" inputSchema", tool.InputSchema)
		if tool.OutputSchema != nil {
			outSchemas[tool.Name] = compile(t, tool.Name+" outputSchema", tool.OutputSchema)
		}
	}
	calls := realisticCalls()
	for _, name := range names {
		if _, ok := calls[name]; !ok {
			t.Errorf("%s is listed but has no realistic call in this test: add one", name)
		}
	}
	if len(names) < len(calls) {
		t.Errorf("tools %v: fewer than the calls of this test", names)
	}
	calls["ask (every parameter)"] = askEverything()
	calls["listModels (text)"] = map[string]any{"kind": "text", "search": "gpt", "limit": 5}
	// A video that outlasts its call (wait 0) comes back as a job, which
	// getJob finishes: the job's id goes into getJob's call.
	pending := &gosdk.CallToolParams{Name: "createVideo", Arguments: map[string]any{"model": "veo2-video", "prompt": "a slow video", "wait": 0}}
	pending.SetProgressToken("p-createVideo-pending")
	res, err := cs.CallTool(ctx, pending)
	if err != nil || res.IsError {
		t.Fatalf("createVideo with wait 0: %v %v", err, res)
	}
	if err := outSchemas["createVideo"].Validate(roundTrip(t, res.StructuredContent)); err != nil {
		t.Errorf("a pending createVideo does not validate against its output schema: %v", err)
	}
	var job struct {
		Job struct {
			ID   string `json:"id"`
			Done bool   `json:"done"`
		} `json:"job"`
	}
	raw, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(raw, &job)
	if job.Job.ID == "" || job.Job.Done || !strings.Contains(text(res), "getJob") {
		t.Fatalf("createVideo with wait 0: %s", text(res))
	}
	calls["getJob"]["jobId"] = job.Job.ID
	links := map[string]string{} // resource URI → MIME type, from the results' resource links
	for name, args := range calls {
		tool, _, _ := strings.Cut(name, " ")
		tok := "p-" + strings.ReplaceAll(name, " ", "-")
		params := &gosdk.CallToolParams{Name: tool, Arguments: args}
		params.SetProgressToken(tok)
		res, err := cs.CallTool(ctx, params)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if res.IsError {
			t.Errorf("%s: tool error: %s", name, text(res))
			continue
		}
		for _, c := range res.Content {
			if l, ok := c.(*gosdk.ResourceLink); ok {
				links[l.URI] = l.MIMEType
			}
		}
		if tool == "getJob" || tool == "createVideo" {
			if !strings.Contains(text(res), "Created a video with veo2-video") {
				t.Errorf("%s: not the finished video: %s", name, text(res))
			}
		}
		if rs := outSchemas[tool]; rs != nil {
			if res.StructuredContent == nil {
				t.Errorf("%s: no structured content", name)
			} else if err := rs.Validate(roundTrip(t, res.StructuredContent)); err != nil {
				t.Errorf("%s: structured content does not validate against the output schema: %v", name, err)
			}
		}
	}
	checkMediaResources(t, ctx, cs, links)
	time.Sleep(200 * time.Millisecond) // anything late would be on the wire by now
	msgs := wire.messages(t)
	for name := range calls {
		tok := "p-" + strings.ReplaceAll(name, " ", "-")
		checkProgressOrder(t, name, tok, msgs, !strings.HasPrefix(name, "listModels") && !strings.HasPrefix(name, "checkBalance"))
	}
	for _, r := range fake.Requests() {
		var body map[string]any
		if r.Path != "/api/v1/chat/completions" || json.Unmarshal(r.Body, &body) != nil || body["format"] == nil && body["seed"] == nil {
			continue
		}
		for _, k := range []string{"logprobs", "top_logprobs", "top_k", "repetition_penalty", "reasoning_effort", "response_format"} {
			if _, ok := body[k]; !ok {
				t.Errorf("the last ask sent no %s", k)
			}
		}
		if body["logprobs"] != true {
			t.Errorf("logprobs on the wire = %v, want true", body["logprobs"])
		}
	}

	checkCancel(t, ctx, cs, fake, wire)
}

// checkProgressOrder: every progress notification for tok was read before
// the result of its call (by wire order), and some were, when want.
func checkProgressOrder(t *testing.T, name, tok string, msgs []wireMsg, want bool) {
	t.Helper()
	var callID json.RawMessage
	for _, m := range msgs {
		if m.dir == "write" && m.Method == "tools/call" && jsonText(m.Params.Meta["progressToken"]) == jsonText(tok) {
			callID = m.ID
		}
	}
	if callID == nil {
		t.Fatalf("%s: the call is not on the wire", name)
	}
	seen, done := 0, false
	for _, m := range msgs {
		if m.dir != "read" {
			continue
		}
		if m.Method == "" && string(m.ID) == string(callID) {
			done = true
		}
		if m.Method == "notifications/progress" && jsonText(m.Params.ProgressToken) == jsonText(tok) {
			if done {
				t.Errorf("%s: a progress notification came after the result", name)
			}
			seen++
		}
	}
	if want && seen == 0 {
		t.Errorf("%s: no progress notification", name)
	}
}

// checkCancel cancels an ask that NanoGPT holds: the upstream request ends,
// no answer comes for the cancelled id, and the session goes on.
func checkCancel(t *testing.T, ctx context.Context, cs *gosdk.ClientSession, fake *nanogpttest.Docs, wire *wireLog) {
	t.Helper()
	reached := make(chan struct{}, 1)
	upstreamGone := make(chan struct{}, 1)
	fake.Set(func(d *nanogpttest.Docs) {
		d.Block = func(r *http.Request, _ map[string]any) {
			reached <- struct{}{}
			select {
			case <-r.Context().Done():
				upstreamGone <- struct{}{}
			case <-time.After(30 * time.Second):
			}
		}
	})
	callCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(callCtx, &gosdk.CallToolParams{Name: "ask", Arguments: map[string]any{"model": "m", "userPrompt": "hold on"}})
		errc <- err
	}()
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not reach NanoGPT")
	}
	cancel()
	if err := <-errc; err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call returned %v", err)
	}
	select {
	case <-upstreamGone:
	case <-time.After(5 * time.Second):
		t.Error("the upstream request was not cancelled")
	}
	fake.Set(func(d *nanogpttest.Docs) { d.Block = nil })
	// The session stays usable.
	res, err := cs.CallTool(ctx, &gosdk.CallToolParams{Name: "ask", Arguments: map[string]any{"model": "m", "userPrompt": "still there?"}})
	if err != nil || res.IsError {
		t.Fatalf("after the cancel: %v %v", err, res)
	}
	time.Sleep(300 * time.Millisecond)
	var id json.RawMessage
	msgs := wire.messages(t)
	for _, m := range msgs {
		if m.dir == "write" && m.Method == "tools/call" && m.Params.Arguments["userPrompt"] == "hold on" {
			id = m.ID
		}
	}
	cancelSent := false
	for _, m := range msgs {
		if m.dir == "write" && m.Method == "notifications/cancelled" {
			cancelSent = true
		}
		if m.dir == "read" && m.Method == "" && string(m.ID) == string(id) {
			t.Errorf("a response came for the cancelled call %s: %s%s", id, m.Result, m.Error)
		}
	}
	if id == nil && !strings.Contains(wire.String(), "write error") {
		// Over streamable HTTP the SDK aborts the call's POST, and logs a
		// write error instead; TestStreamableCancel reads that wire itself.
		t.Error("the cancelled call is not on the wire")
	}

	if !cancelSent {
		t.Log("the client sent no notifications/cancelled (it closed the request instead)")
	}
}

func text(res *gosdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*gosdk.TextContent); ok {
			b.WriteString(tc.Text + "\n")
		}
	}
	return b.String()
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkMediaResources: every generated file a result linked is listed by
// resources/list and read back by resources/read, byte for byte what the
// fake NanoGPT generated; images, audio and the video among them.
func checkMediaResources(t *testing.T, ctx context.Context, cs *gosdk.ClientSession, links map[string]string) {
	t.Helper()
	want := map[string][]byte{"image/png": nanogpttest.PNG, "audio/wav": nanogpttest.Audio, "video/mp4": nanogpttest.Video}
	for mime := range want {
		if !slices.Contains(slices.Collect(maps.Values(links)), mime) {
			t.Errorf("no result linked a %s resource (links %v)", mime, links)
		}
	}
	lr, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatalf("resources/list: %v", err)
	}
	listed := map[string]bool{}
	for _, r := range lr.Resources {
		listed[r.URI] = true
	}
	for uri, mime := range links {
		if !listed[uri] {
			t.Errorf("%s is linked but not listed", uri)
		}
		rr, err := cs.ReadResource(ctx, &gosdk.ReadResourceParams{URI: uri})
		if err != nil || len(rr.Contents) != 1 {
			t.Errorf("resources/read %s: %v", uri, err)
			continue
		}
		if c := rr.Contents[0]; c.MIMEType != mime || !bytes.Equal(c.Blob, want[mime]) {
			t.Errorf("resources/read %s: %s, %d bytes; want %s, the %d bytes NanoGPT made", uri, c.MIMEType, len(c.Blob), mime, len(want[mime]))
		}
	}
	if _, err := cs.ReadResource(ctx, &gosdk.ReadResourceParams{URI: "nanogpt://media/0123456789abcdef0123456789abcdef"}); err == nil {
		t.Error("an unknown resource was read")
	}
}
