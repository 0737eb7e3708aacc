package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"go.uber.org/goleak"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// relHarness is an MCP client on the tools with a fake NanoGPT behind them,
// configured with a retry policy, time limits and a heartbeat.
type relHarness struct {
	t      *testing.T
	fake   *nanogpttest.Server
	client *client.Client

	mu       sync.Mutex
	progress []string // "token: message" of each progress notification
}

func relNew(t *testing.T, retry nanogpt.RetryPolicy, timeouts map[string]tools.Limit, heartbeat time.Duration) *relHarness {
	t.Helper()
	fake := nanogpttest.New(testKey)
	t.Cleanup(fake.Close)
	h := &relHarness{t: t, fake: fake}
	c := nanogpt.New(nanogpt.Config{BaseURL: fake.URL, APIKey: testKey, Retry: retry})
	h.client, _ = startClient(t, tools.Deps{
		Client:    func(context.Context) (*nanogpt.Client, error) { return c, nil },
		Media:     tools.Media{Mode: tools.OutputInline, InlineMax: 1 << 20},
		Poll:      nanogpt.PollOptions{Interval: 5 * time.Millisecond},
		Timeouts:  timeouts,
		Heartbeat: heartbeat,
	}, nil, nil, func(n mcp.JSONRPCNotification) {
		if n.Method != string(mcp.MethodNotificationProgress) {
			return
		}
		h.mu.Lock()
		h.progress = append(h.progress, fmt.Sprint(n.Params.AdditionalFields["progressToken"], ": ", n.Params.AdditionalFields["message"]))
		h.mu.Unlock()
	})
	return h
}

func (h *relHarness) call(name string, args map[string]any, token any) *mcp.CallToolResult {
	h.t.Helper()
	var req mcp.CallToolRequest
	req.Params.Name, req.Params.Arguments = name, args
	if token != nil {
		req.Params.Meta = &mcp.Meta{ProgressToken: token}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := h.client.CallTool(ctx, req)
	if err != nil {
		h.t.Fatalf("%s: protocol error %v", name, err)
	}
	return res
}

// progressSeen waits briefly for a progress message containing want.
func (h *relHarness) progressSeen(want string) bool {
	deadline := time.Now().Add(time.Second)
	for {
		h.mu.Lock()
		got := strings.Join(h.progress, "\n")
		h.mu.Unlock()
		if strings.Contains(got, want) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *relHarness) progressMessages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.progress...)
}

func relMeta(res *mcp.CallToolResult, key string) any {
	if res.Meta == nil {
		return nil
	}
	return res.Meta.AdditionalFields[key]
}

// relNoLeaks checks, after every other cleanup of t has run (servers and
// clients closed), that t left no goroutine behind.
func relNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

var relRetry = nanogpt.RetryPolicy{Retries: 2, BaseDelay: time.Millisecond, MaxDelay: 100 * time.Millisecond}

// relFailFirst answers the first n requests with status, then with ok.
func relFailFirst(n int32, status int, retryAfter string, ok http.HandlerFunc) http.HandlerFunc {
	var seen atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			nanogpttest.Error(w, status, `{"error":{"message":"busy","type":"server_error"}}`)
			return
		}
		ok(w, r)
	}
}

func TestRelRetriedSuccessSaysSo(t *testing.T) {
	relNoLeaks(t)
	h := relNew(t, relRetry, nil, 0)
	h.fake.Handle("POST /api/v1/chat/completions", relFailFirst(1, 503, "", nanogpttest.ChatHandler(func(map[string]any) string { return "fine" })))
	for _, token := range []any{nil, "tok-r"} { // plain and streamed
		res := h.call("ask", map[string]any{"model": "m", "userPrompt": "x"}, token)
		if res.IsError || mcp.GetTextFromContent(res.Content[0]) != "fine" {
			t.Fatalf("token %v: %+v", token, res)
		}
		if n, _ := relMeta(res, "retries").(float64); n != 1 {
			t.Errorf("token %v: _meta.retries = %v, want 1", token, relMeta(res, "retries"))
		}
		if last := mcp.GetTextFromContent(res.Content[len(res.Content)-1]); !strings.Contains(last, "after 1 retry: HTTP 503") {
			t.Errorf("token %v: last text %q does not mention the retry", token, last)
		}
		h.fake.Handle("POST /api/v1/chat/completions", relFailFirst(1, 503, "", nanogpttest.ChatHandler(func(map[string]any) string { return "fine" })))
	}
	if !h.progressSeen("tok-r: NanoGPT answered HTTP 503; retry 1 of 2") {
		t.Errorf("no progress about the retry: %q", h.progressMessages())
	}
	h.fake.Handle("POST /api/v1/chat/completions", nanogpttest.ChatHandler(func(map[string]any) string { return "fine" }))
	res := h.call("ask", map[string]any{"model": "m", "userPrompt": "x"}, nil) // no failure, no note
	if relMeta(res, "retries") != nil || strings.Contains(text(res), "retr") {
		t.Errorf("a call without retries is marked: %+v", res)
	}
}

func TestRelRetriesExhaustedKeepTheirCode(t *testing.T) {
	cases := []struct {
		status     int
		retryAfter string
		code       string
		retries    float64
	}{
		{500, "", tools.CodeUpstreamError, 2},
		{502, "", tools.CodeUpstreamError, 2},
		{503, "", tools.CodeUpstreamError, 2},
		{504, "", tools.CodeUpstreamTimeout, 2},
		{408, "", tools.CodeUpstreamTimeout, 2},
		{429, "0.01", tools.CodeRateLimited, 2},
		{429, "120", tools.CodeRateLimited, 0}, // beyond the cap: not waited for
	}
	h := relNew(t, relRetry, nil, 0)
	for _, c := range cases {
		var n atomic.Int32
		h.fake.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			if c.retryAfter != "" {
				w.Header().Set("Retry-After", c.retryAfter)
			}
			nanogpttest.Error(w, c.status, `{"error":{"message":"nope"}}`)
		})
		res := h.call("ask", map[string]any{"model": "m", "userPrompt": "x"}, nil)
		name := fmt.Sprintf("HTTP %d Retry-After %q", c.status, c.retryAfter)
		if !res.IsError || errorCode(res) != c.code {
			t.Errorf("%s: code %q, want %q: %s", name, errorCode(res), c.code, text(res))
		}
		got, _ := relMeta(res, "retries").(float64)
		if got != c.retries || n.Load() != int32(c.retries)+1 {
			t.Errorf("%s: _meta.retries = %v after %d requests, want %v", name, got, n.Load(), c.retries)
		}
		if c.retries > 0 && !strings.Contains(text(res), fmt.Sprintf("(after %d retries)", int(c.retries))) {
			t.Errorf("%s: text does not say it retried: %s", name, text(res))
		}
		if st, _ := relMeta(res, "httpStatus").(float64); int(st) != c.status {
			t.Errorf("%s: _meta.httpStatus = %v", name, relMeta(res, "httpStatus"))
		}
	}
}

func TestRelToolTimeoutIsAClearError(t *testing.T) {
	relNoLeaks(t)
	limits := map[string]tools.Limit{
		"":    {Time: time.Minute, Setting: "--timeout (NANOGPT_MCP_TIMEOUT)"},
		"ask": {Time: 80 * time.Millisecond, Setting: "--ask-timeout (NANOGPT_MCP_ASK_TIMEOUT)"},
	}
	h := relNew(t, relRetry, limits, 0)
	released := make(chan time.Duration, 1)
	h.fake.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		<-r.Context().Done() // never answer; see when the server gives up
		released <- time.Since(start)
	})
	start := time.Now()
	res := h.call("ask", map[string]any{"model": "m", "userPrompt": "x"}, nil)
	took := time.Since(start)
	if !res.IsError || errorCode(res) != tools.CodeUpstreamTimeout {
		t.Fatalf("code %q: %s", errorCode(res), text(res))
	}
	for _, want := range []string{"ask did not finish within its time limit of 80ms", "--ask-timeout (NANOGPT_MCP_ASK_TIMEOUT)", "Next step:"} {
		if !strings.Contains(text(res), want) {
			t.Errorf("%q does not contain %q", text(res), want)
		}
	}
	if took > 2*time.Second {
		t.Errorf("the call took %s with an 80ms limit", took)
	}
	select {
	case d := <-released:
		if d > 80*time.Millisecond+500*time.Millisecond {
			t.Errorf("NanoGPT's request was released after %s", d)
		}
	case <-time.After(2 * time.Second):
		t.Error("NanoGPT's request was never released")
	}
}

// A call whose time limit ends while NanoGPT's job still runs does not lose
// the job: it answers with the job's id (issue 13), and getJob finishes it.
// Before, it was an upstream_timeout error naming the job.
func TestRelTimeoutWhilePollingKeepsTheJob(t *testing.T) {
	limits := map[string]tools.Limit{"createSpeech": {Time: 150 * time.Millisecond, Setting: "--speech-timeout (NANOGPT_MCP_SPEECH_TIMEOUT)"}}
	h := relNew(t, relRetry, limits, 0)
	h.fake.Handle("POST /api/v1/audio/speech", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"status":"pending","runId":"run-slow-1","model":"m","cost":0.01,"paymentSource":"USD"}`)
	})
	var polls atomic.Int32
	var done atomic.Bool
	h.fake.Handle("GET /api/tts/status", func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		if done.Load() {
			nanogpttest.JSON(w, map[string]any{"status": "completed", "audioUrl": h.fake.URL + "/files/a.wav"})
			return
		}
		nanogpttest.JSON(w, map[string]any{"status": "processing"})
	})
	h.fake.Handle("GET /files/a.wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(nanogpttest.Audio)
	})
	res := h.call("createSpeech", map[string]any{"model": "m", "input": "hello"}, "tok-s")
	if res.IsError {
		t.Fatalf("code %q: %s", errorCode(res), text(res))
	}
	out, _ := json.Marshal(res.StructuredContent)
	var pending struct {
		Job tools.JobStatus `json:"job"`
	}
	_ = json.Unmarshal(out, &pending)
	if pending.Job.ID == "" || pending.Job.RunID != "run-slow-1" || pending.Job.Status != "processing" || pending.Job.Done {
		t.Fatalf("structured = %s", out)
	}
	for _, want := range []string{"still running", `"processing"`, pending.Job.ID, "getJob", "not started again"} {
		if !strings.Contains(text(res), want) {
			t.Errorf("%q does not contain %q", text(res), want)
		}
	}
	if !h.progressSeen("tok-s: speech job processing (check 1)") {
		t.Errorf("no progress per poll: %q", h.progressMessages())
	}
	done.Store(true)
	res = h.call("getJob", map[string]any{"jobId": pending.Job.ID}, nil)
	if res.IsError || !strings.Contains(text(res), "Created speech with m") || len(res.Content) < 2 {
		t.Fatalf("getJob: %s", text(res))
	}
	if _, ok := res.Content[1].(mcp.AudioContent); !ok {
		t.Errorf("getJob did not return the audio as createSpeech would: %#v", res.Content[1])
	}
	if n := len(h.fake.Requests()) - int(polls.Load()) - 1; n != 1 {
		t.Errorf("the speech POST was sent %d times, want once", n)
	}
	if res := h.call("getJob", map[string]any{"jobId": pending.Job.ID}, nil); !res.IsError || !strings.Contains(text(res), "finished and its result was returned") {
		t.Errorf("a finished job again: %s", text(res))
	}
}

func TestRelHeartbeatKeepsSlowCallsAlive(t *testing.T) {
	relNoLeaks(t)
	h := relNew(t, nanogpt.RetryPolicy{}, nil, 40*time.Millisecond)
	h.fake.Handle("POST /api/v1/images/generations", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(250 * time.Millisecond)
		nanogpttest.JSON(w, map[string]any{"created": 1, "data": []any{map[string]any{"b64_json": "iVBORw0KGgo="}}})
	})
	res := h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "cat"}}}, 7)
	if res.IsError {
		t.Fatal(text(res))
	}
	beats := 0
	for _, m := range h.progressMessages() {
		if strings.HasPrefix(m, "7: still working") {
			beats++
			if !strings.Contains(m, "last: generating with m") {
				t.Errorf("heartbeat %q does not say what it waits for", m)
			}
		}
	}
	if beats < 3 {
		t.Errorf("%d heartbeats in 250ms at 40ms intervals: %q", beats, h.progressMessages())
	}

	// Without a progress token nothing is sent.
	before := len(h.progressMessages())
	if res := h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "cat"}}}, nil); res.IsError {
		t.Fatal(text(res))
	}
	if after := len(h.progressMessages()); after != before {
		t.Errorf("%d notifications without a progress token", after-before)
	}
}

func TestRelStreamProgressIsThrottled(t *testing.T) {
	h := relNew(t, nanogpt.RetryPolicy{}, nil, time.Hour)
	words := strings.Repeat("w ", 300)
	h.fake.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for range 300 { // 300 chunks over ~600ms
			fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w \"}}]}\n\n")
			w.(http.Flusher).Flush()
			time.Sleep(2 * time.Millisecond)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	start := time.Now()
	res := h.call("ask", map[string]any{"model": "m", "userPrompt": "x"}, "t")
	took := time.Since(start)
	if res.IsError || mcp.GetTextFromContent(res.Content[0]) != words {
		t.Fatalf("%+v", res)
	}
	time.Sleep(50 * time.Millisecond)
	msgs := h.progressMessages()
	received := 0
	for _, m := range msgs {
		if strings.HasPrefix(m, "t: received ") {
			received++
		}
	}
	// At most one per 100ms (plus the first); at least a few for a call this long.
	if limit := int(took/(100*time.Millisecond)) + 2; received > limit || received < 2 {
		t.Errorf("%d progress notifications in %s (limit %d): %q", received, took, limit, msgs)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "characters") {
		t.Errorf("progress does not say how far the answer has got: %q", msgs)
	}
}
