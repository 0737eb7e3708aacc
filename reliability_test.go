package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.uber.org/goleak"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// Cancellation: a cancelled call must release its NanoGPT request, its polling
// and its retry waits within 100 ms, on every transport. The tests measure the
// latency and log it; they fail above relCancelBound, which is generous
// against the noise of a loaded CI machine.
const relCancelBound = 500 * time.Millisecond

// relNoLeaks checks, after every other cleanup of t has run, that t left no
// goroutine behind.
func relNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// relFake is a fake NanoGPT whose answers depend on a marker in the prompt (ask)
// or the text (createSpeech). It reports when a request it holds is released.
type relFake struct {
	*nanogpttest.Server
	started  chan string    // the marker of each request that began to hang or wait
	released chan time.Time // when a hanging request's context ended
}

func newRelFake(t *testing.T) *relFake {
	t.Helper()
	f := &relFake{Server: nanogpttest.New(e2eKey), started: make(chan string, 16), released: make(chan time.Time, 16)}
	t.Cleanup(f.Close)
	hang := func(r *http.Request, marker string) {
		f.started <- marker
		<-r.Context().Done()
		f.released <- time.Now()
	}
	f.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream   bool `json:"stream"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		prompt := req.Messages[len(req.Messages)-1].Content
		switch {
		case prompt == "hang":
			hang(r, prompt)
		case prompt == "stream-hang":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial \"}}]}\n\n")
			w.(http.Flusher).Flush()
			hang(r, prompt)
		case prompt == "busy":
			f.started <- prompt
			nanogpttest.Error(w, http.StatusServiceUnavailable, `{"error":{"message":"overloaded"}}`)
		case strings.HasPrefix(prompt, "slow"):
			time.Sleep(300 * time.Millisecond)
			nanogpttest.JSON(w, nanogpttest.ChatCompletion("m", "done: "+prompt))
		default:
			nanogpttest.JSON(w, nanogpttest.ChatCompletion("m", "echo: "+prompt))
		}
	})
	f.Handle("POST /api/v1/audio/speech", func(w http.ResponseWriter, r *http.Request) {
		f.started <- "speech-job"
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"status":"pending","runId":"run-cancel","model":"m"}`)
	})
	f.Handle("GET /api/tts/status", func(w http.ResponseWriter, r *http.Request) { hang(r, "poll") })
	return f
}

// relServer builds the real server (newServer) against fake, with a tool
// middleware that reports when each call's handler returns.
func relServer(t *testing.T, fake *relFake, args ...string) (*server.MCPServer, config, chan time.Time) {
	t.Helper()
	env := map[string]string{"NANOGPT_BASE_URL": fake.URL, "NANOGPT_API_KEY": e2eKey}
	cfg, err := parseConfig(append([]string{"--allow-dir", t.TempDir(), "--output-dir", t.TempDir()}, args...), func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	returned := make(chan time.Time, 16)
	s.Use(func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			defer func() { returned <- time.Now() }()
			return next(ctx, req)
		}
	})
	return s, cfg, returned
}

// relStdio serves s over in-process pipes with the stdio setup of run and
// returns an initialised mcp-go client.
func relStdio(t *testing.T, s *server.MCPServer, cfg config) *client.Client {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveStdio(ctx, cfg, s, inR, outW, slog.New(slog.DiscardHandler)) }()
	c := client.NewClient(transport.NewIO(outR, inW, io.NopCloser(strings.NewReader(""))), client.WithProtocolVersion(mcp.ProtocolVersion20250618))
	t.Cleanup(func() {
		c.Close()
		inW.Close()
		cancel()
		<-done
		outW.Close()
		inR.Close()
	})
	initClient(t, c)
	return c
}

// relHTTP serves s over streamable HTTP on a loopback test server.
func relHTTP(t *testing.T, s *server.MCPServer) *client.Client {
	t.Helper()
	ts := httptest.NewServer(server.NewStreamableHTTPServer(s))
	t.Cleanup(ts.Close)
	tr, err := transport.NewStreamableHTTP(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.ProtocolVersion20250618))
	t.Cleanup(func() { c.Close() })
	initClient(t, c)
	return c
}

func relCall(name string, args map[string]any) mcp.CallToolRequest {
	var req mcp.CallToolRequest
	req.Params.Name, req.Params.Arguments = name, args
	req.Params.Meta = &mcp.Meta{ProgressToken: "rel"}
	return req
}

// relCancelCase is one kind of work a call can be doing when it is cancelled.
type relCancelCase struct {
	name    string
	req     mcp.CallToolRequest
	waitFor string // the fake's marker that says the call is at that point
	request bool   // a NanoGPT request is open at the cancel (the fake sees its release)
}

var relCancelCases = []relCancelCase{
	{"request", relCall("ask", map[string]any{"model": "m", "userPrompt": "hang"}), "hang", true},
	{"stream", relCall("ask", map[string]any{"model": "m", "userPrompt": "stream-hang"}), "stream-hang", true},
	{"retry wait", relCall("ask", map[string]any{"model": "m", "userPrompt": "busy"}), "busy", false},
	{"job polling", relCall("createSpeech", map[string]any{"model": "m", "input": "x"}), "speech-job", false},
}

// relMeasureCancel starts the call, cancels it once the fake sees it at its
// point, and returns how long the NanoGPT request (when one is open) and the
// tool handler took to let go.
func relMeasureCancel(t *testing.T, c *client.Client, fake *relFake, returned chan time.Time, tc relCancelCase) (request, handler time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.CallTool(ctx, tc.req)
		errc <- err
	}()
	select {
	case m := <-fake.started:
		if m != tc.waitFor {
			t.Fatalf("fake saw %q, want %q", m, tc.waitFor)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call never reached the fake")
	}
	time.Sleep(20 * time.Millisecond) // let it settle into the wait
	at := time.Now()
	cancel()
	if err := <-errc; err == nil {
		t.Error("the cancelled call returned no error to the client")
	}
	if tc.request {
		select {
		case r := <-fake.released:
			request = r.Sub(at)
		case <-time.After(5 * time.Second):
			t.Fatal("the NanoGPT request was not released")
		}
	}
	select {
	case r := <-returned:
		handler = r.Sub(at)
	case <-time.After(5 * time.Second):
		t.Fatal("the tool handler did not return")
	}
	if request > relCancelBound || handler > relCancelBound {
		t.Errorf("%s: released NanoGPT after %s and returned after %s, want within 100ms (bound %s)", tc.name, request, handler, relCancelBound)
	}
	if tc.request {
		t.Logf("%s: NanoGPT request released %s, handler returned %s after the cancel", tc.name, request.Round(10*time.Microsecond), handler.Round(10*time.Microsecond))
	} else {
		t.Logf("%s: no request open; handler returned %s after the cancel", tc.name, handler.Round(10*time.Microsecond))
	}
	return request, handler
}

func TestRelCancelStdio(t *testing.T) {
	relNoLeaks(t)
	fake := newRelFake(t)
	s, cfg, returned := relServer(t, fake)
	c := relStdio(t, s, cfg)
	for _, tc := range relCancelCases {
		t.Run(tc.name, func(t *testing.T) { relMeasureCancel(t, c, fake, returned, tc) })
	}
	// The server still serves after the cancellations.
	res, err := c.CallTool(context.Background(), relCall("ask", map[string]any{"model": "m", "userPrompt": "after"}))
	if err != nil || res.IsError || mcp.GetTextFromContent(res.Content[0]) != "echo: after" {
		t.Errorf("after cancellations: %v %+v", err, res)
	}
}

func TestRelCancelStreamableHTTP(t *testing.T) {
	relNoLeaks(t)
	fake := newRelFake(t)
	s, _, returned := relServer(t, fake)
	c := relHTTP(t, s)
	for _, tc := range relCancelCases {
		t.Run(tc.name, func(t *testing.T) { relMeasureCancel(t, c, fake, returned, tc) })
	}
	res, err := c.CallTool(context.Background(), relCall("ask", map[string]any{"model": "m", "userPrompt": "after"}))
	if err != nil || res.IsError || mcp.GetTextFromContent(res.Content[0]) != "echo: after" {
		t.Errorf("after cancellations: %v %+v", err, res)
	}
}

// relBinary starts the built server over stdio with the fake as NanoGPT.
func relBinary(t *testing.T, fake *relFake, args ...string) (*exec.Cmd, *client.Client, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "NANOGPT_BASE_URL="+fake.URL, "NANOGPT_API_KEY="+e2eKey, "NANOGPT_MCP_OUTPUT_DIR="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := client.NewClient(transport.NewIO(stdout, stdin, io.NopCloser(strings.NewReader(""))), client.WithProtocolVersion(mcp.ProtocolVersion20250618))
	t.Cleanup(func() { c.Close() })
	initClient(t, c)
	return cmd, c, &stderr
}

// TestRelCancelBinary cancels calls of the built server: with
// notifications/cancelled (mcp-go's client sends it when the call's context
// ends), and by SIGTERM.
func TestRelCancelBinary(t *testing.T) {
	fake := newRelFake(t)
	cmd, c, stderr := relBinary(t, fake)
	for _, marker := range []string{"hang", "stream-hang"} {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _, _ = c.CallTool(ctx, relCall("ask", map[string]any{"model": "m", "userPrompt": marker})) }()
		<-fake.started
		at := time.Now()
		cancel()
		select {
		case r := <-fake.released:
			t.Logf("binary, notifications/cancelled, %s: NanoGPT request released %s after the cancel", marker, r.Sub(at).Round(10*time.Microsecond))
			if r.Sub(at) > relCancelBound {
				t.Errorf("%s: released after %s", marker, r.Sub(at))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: NanoGPT request not released after notifications/cancelled", marker)
		}
	}

	go func() {
		_, _ = c.CallTool(context.Background(), relCall("ask", map[string]any{"model": "m", "userPrompt": "hang"}))
	}()
	<-fake.started
	at := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-fake.released:
		t.Logf("binary, SIGTERM: NanoGPT request released %s after the signal", r.Sub(at).Round(10*time.Microsecond))
		if r.Sub(at) > relCancelBound {
			t.Errorf("SIGTERM: released after %s", r.Sub(at))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("NanoGPT request not released after SIGTERM")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Error("the server did not exit after SIGTERM")
	}
}

// TestRelConcurrentCallsOverStdio checks that calls do not queue behind each
// other over stdio (the worker pool is sized for I/O-bound calls) and that a
// cancellation is read while every other call is busy.
func TestRelConcurrentCallsOverStdio(t *testing.T) {
	fake := newRelFake(t)
	_, c, _ := relBinary(t, fake)
	const n = 31 // with the cancelled one below: the default 32 workers, all busy
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			res, err := c.CallTool(context.Background(), relCall("ask", map[string]any{"model": "m", "userPrompt": fmt.Sprintf("slow %d", i)}))
			switch {
			case err != nil:
				errs <- err
			case res.IsError || mcp.GetTextFromContent(res.Content[0]) != fmt.Sprintf("done: slow %d", i):
				errs <- fmt.Errorf("call %d: %+v", i, res.Content)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = c.CallTool(ctx, relCall("ask", map[string]any{"model": "m", "userPrompt": "hang"})) }()
	<-fake.started
	at := time.Now()
	cancel()
	select {
	case r := <-fake.released:
		t.Logf("cancel with %d other calls in flight: released %s after", n, r.Sub(at).Round(10*time.Microsecond))
		if r.Sub(at) > relCancelBound {
			t.Errorf("cancel with every worker busy took %s", r.Sub(at))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel not read while the workers were busy")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// 31 calls of 300ms each: one round if they ran together, 31 rounds if not.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("%d concurrent 300ms calls took %s: they queued", n, d)
	} else {
		t.Logf("%d concurrent 300ms calls took %s", n, d.Round(time.Millisecond))
	}
}

func TestRelConfigFlags(t *testing.T) {
	env := map[string]string{"NANOGPT_MCP_SPEECH_TIMEOUT": "20m", "NANOGPT_MCP_RETRIES": "5", "NANOGPT_MCP_IMAGE_TIMEOUT": "1m"}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseConfig([]string{"--timeout", "90s", "--image-timeout", "15m", "--retry-max-wait", "5s"}, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.reliability
	if r.retry.Retries != 5 || r.retry.MaxDelay != 5*time.Second {
		t.Errorf("retry policy %+v", r.retry)
	}
	limits := r.limits(cfg.timeout)
	for tool, want := range map[string]time.Duration{"": 90 * time.Second, "ask": 90 * time.Second, "createImage": 15 * time.Minute, "createSpeech": 20 * time.Minute, "createTranscription": 10 * time.Minute} {
		if limits[tool].Time != want {
			t.Errorf("%q limit %s, want %s", tool, limits[tool].Time, want)
		}
	}
	if s := limits["createImage"].Setting; s != "--image-timeout (NANOGPT_MCP_IMAGE_TIMEOUT)" {
		t.Errorf("createImage setting %q", s)
	}
	if s := limits["ask"].Setting; !strings.Contains(s, "--ask-timeout") || !strings.Contains(s, "--timeout") {
		t.Errorf("ask setting %q", s)
	}
	if cfg, _ := parseConfig(nil, func(string) string { return "" }, io.Discard, io.Discard); cfg.reliability.retry.Retries != 2 || cfg.reliability.retry.MaxDelay != 30*time.Second {
		t.Errorf("default retry policy %+v", cfg.reliability.retry)
	}
	for _, bad := range [][]string{{"--retries", "-1"}, {"--retries", "11"}, {"--retries", "x"}, {"--retry-max-wait", "0s"}, {"--image-timeout", "soon"}, {"--ask-timeout", "-1s"}} {
		if _, err := parseConfig(bad, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// TestRelTimeoutNamesTheFlag runs the real server with a short --ask-timeout.
func TestRelTimeoutNamesTheFlag(t *testing.T) {
	relNoLeaks(t)
	fake := newRelFake(t)
	s, cfg, _ := relServer(t, fake, "--ask-timeout", "150ms")
	c := relStdio(t, s, cfg)
	go func() { <-fake.started; <-fake.released }()
	res, err := c.CallTool(context.Background(), relCall("ask", map[string]any{"model": "m", "userPrompt": "hang"}))
	if err != nil {
		t.Fatal(err)
	}
	text := mcp.GetTextFromContent(res.Content[0])
	code, _ := res.Meta.AdditionalFields["errorCode"].(string)
	if !res.IsError || code != "upstream_timeout" || !strings.Contains(text, "time limit of 150ms") || !strings.Contains(text, "--ask-timeout (NANOGPT_MCP_ASK_TIMEOUT)") {
		t.Errorf("code %q: %s", code, text)
	}
}
