package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/nanogpt-mcp/nanogpt-mcp/media"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
	"go.uber.org/goleak"
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

// relServer builds the real server (newServer) against fake, with a tool
// middleware that reports when each call's handler returns.
func relServer(t *testing.T, fake *nanogpttest.Held, args ...string) (*server.MCPServer, config, chan time.Time) {
	t.Helper()
	env := map[string]string{"NANOGPT_BASE_URL": fake.URL, "NANOGPT_API_KEY": e2eKey}
	cfg, err := parseConfig(append([]string{"--allow-dir", t.TempDir(), "--output-dir", t.TempDir()}, args...), func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(context.Background(), cfg, slog.New(slog.DiscardHandler), media.New(cfg.mediaStore))
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
func relMeasureCancel(t *testing.T, c *client.Client, fake *nanogpttest.Held, returned chan time.Time, tc relCancelCase) (request, handler time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.CallTool(ctx, tc.req)
		errc <- err
	}()
	select {
	case m := <-fake.Started:
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
		case r := <-fake.Released:
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
	fake := newHeld(t)
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
	fake := newHeld(t)
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

// TestRelTimeoutNamesTheFlag runs the real server with a short --ask-timeout.
func TestRelTimeoutNamesTheFlag(t *testing.T) {
	relNoLeaks(t)
	fake := newHeld(t)
	s, cfg, _ := relServer(t, fake, "--ask-timeout", "150ms")
	c := relStdio(t, s, cfg)
	go func() { <-fake.Started; <-fake.Released }()
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

const e2eKey = "sk-nano-e2e-secret-0123456789"

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in two goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// initClient starts c and runs the initialize handshake on protocol 2025-06-18.
func initClient(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.ProtocolVersion20250618
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
}

// newHeld starts a nanogpttest.Held fake for the test.
func newHeld(t *testing.T) *nanogpttest.Held {
	t.Helper()
	f := nanogpttest.NewHeld(e2eKey)
	t.Cleanup(f.Close)
	return f
}
