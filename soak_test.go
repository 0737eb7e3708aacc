//go:build soak

// The soak test: many concurrent MCP sessions over streamable HTTP call every
// media and chat tool against a fake NanoGPT that injects faults. Run it with
//
//	go test -tags soak -run TestSoak -count=1 -timeout 30m .
//
// and size it with SOAK_SESSIONS (default 50), SOAK_CALLS (default 2000; the
// full run is 10000), SOAK_FAULT_RATE (default 0.05) and SOAK_SEED. SOAK_REPORT
// names a file for the figures as JSON. See docs/RELIABILITY.md.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.uber.org/goleak"

	"github.com/nanogpt-mcp/nanogpt-mcp/media"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// soakFault is one kind of injected fault and what the call must come back with.
type soakFault struct {
	name    string
	code    string // the error code the call must end with; "" means it must succeed
	retries int    // the _meta.retries the result must carry
	tools   string // the tools it applies to (names separated by spaces); "" for all
}

// The server runs with --retries 2, so a fault on every attempt is retried twice.
var soakFaults = []soakFault{
	{name: "http500", code: "upstream_error", retries: 2},
	{name: "http502", code: "upstream_error", retries: 2},
	{name: "http503", code: "upstream_error", retries: 2},
	{name: "http504", code: "upstream_timeout", retries: 2},
	{name: "http429", code: "rate_limited"}, // Retry-After 120s is above --retry-max-wait: not waited for
	{name: "blip503", retries: 1},           // fails once, then answers
	{name: "blip429", retries: 1},           // Retry-After 0.05s, then answers
	{name: "slow", tools: ""},               // answers after 300ms
	{name: "hang", code: "upstream_timeout"},
	{name: "drop", code: "upstream_error"}, // connection closed, no answer: a POST is not repeated
	{name: "dropmid", code: "upstream_error", tools: "askstream"},
	{name: "malformed", code: "invalid_response"},
	{name: "policy", code: "content_policy"},
	{name: "jobfail", code: "job_failed", tools: "speechjob sttjob"},
}

// soakKinds are the kinds of call, with their share of the calls.
var soakKinds = []struct {
	name   string
	weight int
}{
	{"ask", 40}, {"askstream", 20}, {"image", 10}, {"speech", 8}, {"speechjob", 4}, {"stt", 12}, {"sttjob", 6},
}

const soakPNG = "\x89PNG\r\n\x1a\n"

// soakAudio is the audio "file" of call id: an MP3 ID3 header and the id.
func soakAudio(id int) []byte {
	return []byte(fmt.Sprintf("ID3\x03\x00\x00\x00\x00\x00\x00soak-%d", id))
}

// soakFake is a fake NanoGPT that reads "soak <id> <fault>" from each request
// and misbehaves accordingly. Unlike nanogpttest.Server it keeps no history.
type soakFake struct {
	srv      *httptest.Server
	mu       sync.Mutex
	attempts map[string]int // call id → requests so far (for faults that clear)
	requests atomic.Int64
}

func newSoakFake() *soakFake {
	f := &soakFake{attempts: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/chat/completions", f.chat)
	mux.HandleFunc("POST /api/v1/images/generations", f.image)
	mux.HandleFunc("POST /api/v1/audio/speech", f.speech)
	mux.HandleFunc("GET /api/tts/status", f.speechStatus)
	mux.HandleFunc("POST /api/transcribe", f.transcribe)
	mux.HandleFunc("POST /api/transcribe/status", f.transcribeStatus)
	mux.HandleFunc("GET /files/{name}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(strings.TrimSuffix(r.PathValue("name"), ".mp3"))
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write(soakAudio(id))
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+e2eKey || r.Header.Get("x-api-key") != e2eKey {
			if !strings.HasPrefix(r.URL.Path, "/files/") {
				nanogpttest.Error(w, http.StatusUnauthorized, `{"error":{"message":"bad key"}}`)
				return
			}
		}
		mux.ServeHTTP(w, r)
	}))
	return f
}

// parse finds "soak <id> <fault>" in text.
func soakParse(text string) (id int, fault string) {
	i := strings.Index(text, "soak ")
	if i < 0 {
		return -1, ""
	}
	fields := strings.Fields(text[i:])
	if len(fields) < 3 {
		return -1, ""
	}
	id, _ = strconv.Atoi(fields[1])
	return id, fields[2]
}

// inject misbehaves as fault says, reporting whether it answered the request.
func (f *soakFake) inject(w http.ResponseWriter, r *http.Request, id int, fault string) bool {
	f.mu.Lock()
	key := strconv.Itoa(id)
	f.attempts[key]++
	attempt := f.attempts[key]
	f.mu.Unlock()
	switch fault {
	case "http500", "http502", "http503", "http504":
		status, _ := strconv.Atoi(strings.TrimPrefix(fault, "http"))
		nanogpttest.Error(w, status, `{"error":{"message":"injected `+fault+`","type":"server_error"}}`)
	case "http429":
		w.Header().Set("Retry-After", "120")
		nanogpttest.Error(w, http.StatusTooManyRequests, `{"error":{"message":"Rate limit exceeded","type":"rate_limit_error","code":"rate_limit_exceeded"}}`)
	case "blip503":
		if attempt > 1 {
			return false
		}
		nanogpttest.Error(w, http.StatusServiceUnavailable, `{"error":"busy"}`)
	case "blip429":
		if attempt > 1 {
			return false
		}
		w.Header().Set("Retry-After", "0.05")
		nanogpttest.Error(w, http.StatusTooManyRequests, `{"code":"rate_limited","message":"slow down"}`)
	case "slow":
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
		}
		return false
	case "hang":
		<-r.Context().Done()
	case "drop":
		panic(http.ErrAbortHandler) // close the connection without an answer
	case "malformed":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"choices": [tr`)
	case "policy":
		nanogpttest.Error(w, http.StatusBadRequest, `{"error":{"message":"blocked by the provider","type":"invalid_request_error","code":"content_policy_violation"}}`)
	default:
		return false
	}
	return true
}

func (f *soakFake) chat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Stream   bool `json:"stream"`
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		nanogpttest.Error(w, http.StatusBadRequest, `{"error":{"message":"bad body"}}`)
		return
	}
	prompt := req.Messages[len(req.Messages)-1].Content
	id, fault := soakParse(prompt)
	if fault == "malformed" && req.Stream {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok \"}}]}\n\ndata: {garbage\n\n")
		return
	}
	if fault != "dropmid" && f.inject(w, r, id, fault) {
		return
	}
	answer := "answer to " + prompt
	if !req.Stream {
		nanogpttest.JSON(w, nanogpttest.ChatCompletion("m", answer))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	words := strings.SplitAfter(answer, " ")
	for i, word := range words {
		if fault == "dropmid" && i == len(words)/2 {
			panic(http.ErrAbortHandler)
		}
		b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": word}}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		w.(http.Flusher).Flush()
	}
	fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]\n\n")
}

func (f *soakFake) image(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Prompt string `json:"prompt"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	id, fault := soakParse(req.Prompt)
	if f.inject(w, r, id, fault) {
		return
	}
	nanogpttest.JSON(w, map[string]any{"created": 1, "data": []any{map[string]any{"b64_json": base64.StdEncoding.EncodeToString([]byte(soakPNG + strconv.Itoa(id)))}}, "cost": 0.01})
}

func (f *soakFake) speech(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Input string `json:"input"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	id, fault := soakParse(req.Input)
	job := strings.Contains(req.Input, "job")
	if fault != "jobfail" && f.inject(w, r, id, fault) {
		return
	}
	if job {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"status":"pending","runId":"run-%d-%s","model":"m","cost":0.001,"paymentSource":"USD"}`, id, fault)
		return
	}
	w.Header().Set("Content-Type", "audio/mpeg")
	_, _ = w.Write(soakAudio(id))
}

func (f *soakFake) speechStatus(w http.ResponseWriter, r *http.Request) {
	run := r.URL.Query().Get("runId")
	var id int
	var fault string
	fmt.Sscanf(strings.ReplaceAll(run, "-", " "), "run %d %s", &id, &fault)
	if fault == "jobfail" {
		nanogpttest.JSON(w, map[string]any{"status": "error", "error": "the voice failed"})
		return
	}
	nanogpttest.JSON(w, map[string]any{"status": "completed", "audioUrl": fmt.Sprintf("%s/files/%d.mp3", "http://"+r.Host, id), "contentType": "audio/mpeg"})
}

func (f *soakFake) transcribe(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		nanogpttest.Error(w, http.StatusBadRequest, `{"error":"not multipart"}`)
		return
	}
	_, hdr, err := r.FormFile("audio")
	if err != nil {
		nanogpttest.Error(w, http.StatusBadRequest, `{"error":"no audio"}`)
		return
	}
	// The file is named soak-<id>-<fault>[-job].mp3.
	id, fault := soakParse(strings.ReplaceAll(strings.TrimSuffix(hdr.Filename, ".mp3"), "-", " "))
	if fault != "jobfail" && f.inject(w, r, id, fault) {
		return
	}
	if strings.HasSuffix(hdr.Filename, "-job.mp3") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"status":"pending","runId":"run-%d-%s","cost":0.002,"paymentSource":"USD","fileName":%q}`, id, fault, hdr.Filename)
		return
	}
	nanogpttest.JSON(w, map[string]any{"transcription": fmt.Sprintf("transcript %d", id), "metadata": map[string]any{"language": "en", "cost": 0.002}})
}

func (f *soakFake) transcribeStatus(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RunID string `json:"runId"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	var id int
	var fault string
	fmt.Sscanf(strings.ReplaceAll(req.RunID, "-", " "), "run %d %s", &id, &fault)
	if fault == "jobfail" {
		nanogpttest.JSON(w, map[string]any{"status": "failed", "error": "unreadable audio"})
		return
	}
	nanogpttest.JSON(w, map[string]any{"status": "completed", "transcription": fmt.Sprintf("transcript %d", id)})
}

// soakCall is one planned call.
type soakCall struct {
	id    int
	kind  string
	fault *soakFault
}

// soakPlan decides call id's kind and fault, deterministically from seed.
func soakPlan(id int, seed uint64, rate float64) soakCall {
	rng := rand.New(rand.NewPCG(seed, uint64(id)))
	total := 0
	for _, k := range soakKinds {
		total += k.weight
	}
	n := rng.IntN(total)
	c := soakCall{id: id}
	for _, k := range soakKinds {
		if n < k.weight {
			c.kind = k.name
			break
		}
		n -= k.weight
	}
	if rng.Float64() < rate {
		var fits []*soakFault
		for i := range soakFaults {
			if tl := soakFaults[i].tools; tl == "" || strings.Contains(" "+tl+" ", " "+c.kind+" ") {
				fits = append(fits, &soakFaults[i])
			}
		}
		c.fault = fits[rng.IntN(len(fits))]
	}
	return c
}

// request builds the tools/call for c.
func (c soakCall) request() mcp.CallToolRequest {
	fault := "none"
	if c.fault != nil {
		fault = c.fault.name
	}
	marker := fmt.Sprintf("soak %d %s", c.id, fault)
	var req mcp.CallToolRequest
	switch c.kind {
	case "ask", "askstream":
		req.Params.Name, req.Params.Arguments = "ask", map[string]any{"model": "m", "userPrompt": marker + " please answer"}
		if c.kind == "askstream" {
			req.Params.Meta = &mcp.Meta{ProgressToken: fmt.Sprintf("p%d", c.id)}
		}
	case "image":
		req.Params.Name, req.Params.Arguments = "createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": marker}}, "output": "inline"}
	case "speech", "speechjob":
		text := marker
		if c.kind == "speechjob" {
			text += " job"
		}
		req.Params.Name, req.Params.Arguments = "createSpeech", map[string]any{"model": "m", "input": text, "output": "inline"}
		req.Params.Meta = &mcp.Meta{ProgressToken: c.id}
	case "stt", "sttjob":
		name := fmt.Sprintf("soak-%d-%s.mp3", c.id, fault)
		if c.kind == "sttjob" {
			name = fmt.Sprintf("soak-%d-%s-job.mp3", c.id, fault)
		}
		req.Params.Name, req.Params.Arguments = "createTranscription", map[string]any{"model": "m", "file": map[string]any{
			"url": "data:audio/mpeg;base64," + base64.StdEncoding.EncodeToString(soakAudio(c.id)), "name": name}}
	}
	return req
}

// check compares a result with what c must give, returning "" when right.
func (c soakCall) check(res *mcp.CallToolResult) string {
	meta := map[string]any{}
	if res.Meta != nil && res.Meta.AdditionalFields != nil {
		meta = res.Meta.AdditionalFields
	}
	retries, _ := meta["retries"].(float64)
	want := soakFault{}
	if c.fault != nil {
		want = *c.fault
	}
	if int(retries) != want.retries {
		return fmt.Sprintf("_meta.retries = %v, want %d", meta["retries"], want.retries)
	}
	if want.code != "" {
		code, _ := meta["errorCode"].(string)
		if !res.IsError || code != want.code {
			return fmt.Sprintf("isError %v code %q, want %q: %s", res.IsError, code, want.code, soakText(res))
		}
		if !strings.Contains(soakText(res), "Next step:") {
			return "error without a next step: " + soakText(res)
		}
		if want.name == "http429" && meta["retryAfterSeconds"] != 120.0 {
			return fmt.Sprintf("retryAfterSeconds = %v", meta["retryAfterSeconds"])
		}
		return ""
	}
	if res.IsError {
		return "unexpected error: " + soakText(res)
	}
	fault := "none"
	if c.fault != nil {
		fault = c.fault.name
	}
	switch c.kind {
	case "ask", "askstream":
		if got, wantText := mcp.GetTextFromContent(res.Content[0]), fmt.Sprintf("answer to soak %d %s please answer", c.id, fault); got != wantText {
			return fmt.Sprintf("answer %q, want %q", got, wantText)
		}
	case "image":
		found := false
		for _, b := range res.Content {
			if img, ok := b.(mcp.ImageContent); ok && img.Data == base64.StdEncoding.EncodeToString([]byte(soakPNG+strconv.Itoa(c.id))) && img.MIMEType == "image/png" {
				found = true
			}
		}
		if !found {
			return fmt.Sprintf("image block %+v", res.Content)
		}
	case "speech", "speechjob":
		found := false
		for _, b := range res.Content {
			if a, ok := b.(mcp.AudioContent); ok && a.Data == base64.StdEncoding.EncodeToString(soakAudio(c.id)) && a.MIMEType == "audio/mpeg" {
				found = true
			}
		}
		if !found {
			return fmt.Sprintf("no audio block of call %d: %+v", c.id, res.Content)
		}
	case "stt", "sttjob":
		if got := mcp.GetTextFromContent(res.Content[0]); got != fmt.Sprintf("transcript %d", c.id) {
			return fmt.Sprintf("transcript %q", got)
		}
	}
	return ""
}

func soakText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, " | ")
}

func soakEnv(name string, def float64) float64 {
	if v := os.Getenv(name); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err == nil {
			return f
		}
	}
	return def
}

// soakRSS reads the process's peak resident set (VmHWM) in bytes, 0 when unknown.
func soakRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseUint(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// soakReport is what a run measured.
type soakReport struct {
	Sessions        int            `json:"sessions"`
	Calls           int            `json:"calls"`
	FaultRate       float64        `json:"faultRate"`
	Seed            uint64         `json:"seed"`
	CallsByKind     map[string]int `json:"callsByKind"`
	Faults          int            `json:"faults"`
	FaultsByKind    map[string]int `json:"faultsByKind"`
	ToolErrors      int            `json:"toolErrors"`
	ErrorsByCode    map[string]int `json:"errorsByCode"`
	Recovered       int            `json:"recoveredByRetry"`
	ProtocolErrors  int            `json:"protocolErrors"`
	Failures        int            `json:"failures"`
	ProgressSeen    int64          `json:"progressNotifications"`
	UpstreamReqs    int64          `json:"upstreamRequests"`
	DurationSeconds float64        `json:"durationSeconds"`
	CallsPerSecond  float64        `json:"callsPerSecond"`
	LatencyP50ms    float64        `json:"latencyP50ms"`
	LatencyP99ms    float64        `json:"latencyP99ms"`
	PeakHeapMiB     float64        `json:"peakHeapInuseMiB"`
	HeapAfterMiB    float64        `json:"heapAfterGCMiB"`
	HeapBeforeMiB   float64        `json:"heapBeforeMiB"`
	PeakRSSMiB      float64        `json:"peakRSSMiB"`
	GoroutinesStart int            `json:"goroutinesBefore"`
	GoroutinesPeak  int            `json:"goroutinesPeak"`
	GoroutinesEnd   int            `json:"goroutinesAfter"`
	GoVersion       string         `json:"goVersion"`
	CPUs            int            `json:"cpus"`
	Race            bool           `json:"race"`
}

func TestSoak(t *testing.T) {
	sessions := int(soakEnv("SOAK_SESSIONS", 50))
	calls := int(soakEnv("SOAK_CALLS", 2000))
	rate := soakEnv("SOAK_FAULT_RATE", 0.05)
	seed := uint64(soakEnv("SOAK_SEED", 1))

	ignore := goleak.IgnoreCurrent()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep := soakReport{Sessions: sessions, Calls: calls, FaultRate: rate, Seed: seed, CallsByKind: map[string]int{},
		FaultsByKind: map[string]int{}, ErrorsByCode: map[string]int{}, GoroutinesStart: runtime.NumGoroutine(),
		HeapBeforeMiB: float64(ms.HeapInuse) / (1 << 20), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Race: soakRace}

	fake := newSoakFake()
	env := map[string]string{"NANOGPT_BASE_URL": fake.srv.URL, "NANOGPT_API_KEY": e2eKey}
	cfg, err := parseConfig([]string{"--allow-dir", t.TempDir(), "--output-dir", t.TempDir(), "--media-output", "inline",
		"--ask-timeout", "2s", "--image-timeout", "2s", "--speech-timeout", "2s", "--transcription-timeout", "2s",
		"--retries", "2", "--retry-max-wait", "1s", "--poll-interval", "20ms"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.reliability.retry.BaseDelay = 20 * time.Millisecond // waits of 10-20ms, then 20-40ms: short runs
	s, err := newServer(context.Background(), cfg, slog.New(slog.DiscardHandler), media.New(cfg.mediaStore))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(server.NewStreamableHTTPServer(s))

	// Memory and goroutine sampling.
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	var peakHeap uint64
	var peakG int
	sampling.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peakHeap = max(peakHeap, m.HeapInuse)
			peakG = max(peakG, runtime.NumGoroutine())
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	})

	var (
		next      atomic.Int64
		progress  atomic.Int64
		mu        sync.Mutex
		failures  []string
		latencies []time.Duration
	)
	fail := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 50 {
			failures = append(failures, fmt.Sprintf(format, a...))
		}
		rep.Failures++
	}
	start := time.Now()
	var wg sync.WaitGroup
	for sess := range sessions {
		wg.Go(func() {
			tr, err := transport.NewStreamableHTTP(hs.URL)
			if err != nil {
				fail("session %d: %v", sess, err)
				return
			}
			opts := []client.ClientOption{}
			if sess%2 == 0 { // half the sessions on the 2025-06-18 handshake, half on mcp-go's newest
				opts = append(opts, client.WithProtocolVersion(mcp.ProtocolVersion20250618))
			}
			c := client.NewClient(tr, opts...)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			if err := c.Start(ctx); err != nil {
				fail("session %d: start: %v", sess, err)
				return
			}
			c.OnNotification(func(n mcp.JSONRPCNotification) {
				if n.Method == string(mcp.MethodNotificationProgress) {
					progress.Add(1)
				}
			})
			init := mcp.InitializeRequest{}
			init.Params.ProtocolVersion = mcp.ProtocolVersion20250618
			init.Params.ClientInfo = mcp.Implementation{Name: "soak", Version: "0"}
			if _, err := c.Initialize(ctx, init); err != nil {
				fail("session %d: initialize: %v", sess, err)
				return
			}
			for {
				id := int(next.Add(1)) - 1
				if id >= calls {
					return
				}
				call := soakPlan(id, seed, rate)
				callCtx, cancelCall := context.WithTimeout(ctx, 30*time.Second)
				began := time.Now()
				res, err := c.CallTool(callCtx, call.request())
				took := time.Since(began)
				cancelCall()
				mu.Lock()
				latencies = append(latencies, took)
				rep.CallsByKind[call.kind]++
				if call.fault != nil {
					rep.Faults++
					rep.FaultsByKind[call.fault.name]++
				}
				if err == nil && res.IsError {
					rep.ToolErrors++
					code, _ := res.Meta.AdditionalFields["errorCode"].(string)
					rep.ErrorsByCode[code]++
				}
				if err == nil && !res.IsError && call.fault != nil && call.fault.retries > 0 {
					rep.Recovered++
				}
				if err != nil {
					rep.ProtocolErrors++
				}
				mu.Unlock()
				if err != nil {
					fail("call %d (%s, fault %v): protocol error: %v", id, call.kind, call.fault, err)
					continue
				}
				if problem := call.check(res); problem != "" {
					fault := "none"
					if call.fault != nil {
						fault = call.fault.name
					}
					fail("call %d (%s, fault %s): %s", id, call.kind, fault, problem)
				}
			}
		})
	}
	wg.Wait()
	rep.DurationSeconds = time.Since(start).Seconds()
	close(stopSampling)
	sampling.Wait()

	hs.Close()
	fake.srv.Close()
	rep.ProgressSeen = progress.Load()
	rep.UpstreamReqs = fake.requests.Load()
	rep.CallsPerSecond = float64(calls) / rep.DurationSeconds
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if n := len(latencies); n > 0 {
		rep.LatencyP50ms = float64(latencies[n/2].Microseconds()) / 1000
		rep.LatencyP99ms = float64(latencies[n*99/100].Microseconds()) / 1000
	}
	rep.PeakHeapMiB = float64(peakHeap) / (1 << 20)
	rep.PeakRSSMiB = float64(soakRSS()) / (1 << 20)
	rep.GoroutinesPeak = peakG

	// Nothing may be left behind: goroutines back to the start, memory released.
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines left behind: %v", err)
	}
	s, fake, hs, latencies = nil, nil, nil, nil
	runtime.GC()
	runtime.ReadMemStats(&ms)
	rep.HeapAfterMiB = float64(ms.HeapInuse) / (1 << 20)
	rep.GoroutinesEnd = runtime.NumGoroutine()

	out, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("soak figures:\n%s", out)
	if path := os.Getenv("SOAK_REPORT"); path != "" {
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, f := range failures {
		t.Error(f)
	}
	if rep.Failures > 0 || rep.ProtocolErrors > 0 {
		t.Errorf("%d failures, %d protocol errors in %d calls", rep.Failures, rep.ProtocolErrors, calls)
	}
	if rep.HeapAfterMiB > rep.HeapBeforeMiB+64 {
		t.Errorf("heap grew from %.1f MiB to %.1f MiB after the run", rep.HeapBeforeMiB, rep.HeapAfterMiB)
	}
	if rep.PeakHeapMiB > 1024 {
		t.Errorf("peak heap %.0f MiB", rep.PeakHeapMiB)
	}
}
