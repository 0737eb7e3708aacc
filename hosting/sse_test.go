package hosting

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// sseRig is mcp-go's SSE server behind a Gate, with one tool "slow" whose
// behaviour the test chooses.
type sseRig struct {
	g    *Gate
	ts   *httptest.Server
	logs *logBuf
}

func newSSERig(t *testing.T, o Options, tool server.ToolHandlerFunc) *sseRig {
	t.Helper()
	logs := &logBuf{}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := server.NewMCPServer("test", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("slow"), tool)
	s.Use(func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ctx, cancel := BindCall(ctx)
			defer cancel()
			return next(ctx, req)
		}
	})
	sse := server.NewSSEServer(s, server.WithSessionIDGenerator(g.SSESessionID), server.WithSSEDisableLocalhostProtection(true))
	ts := httptest.NewServer(g.Handler(Endpoints{SSE: sse.SSEHandler(), Message: sse.MessageHandler()}))
	t.Cleanup(func() {
		sse.CloseSessions()
		ts.Close()
	})
	return &sseRig{g: g, ts: ts, logs: logs}
}

func (r *sseRig) connect(t *testing.T, headers map[string]string) (*client.Client, *transport.SSE) {
	t.Helper()
	tr, err := transport.NewSSE(r.ts.URL+"/sse", transport.WithHeaders(headers))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.ProtocolVersion20250618))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Start(context.Background()); err != nil { // the stream lives as long as this context
		t.Fatal(err)
	}
	var init mcp.InitializeRequest
	init.Params.ProtocolVersion = mcp.ProtocolVersion20250618
	init.Params.ClientInfo = mcp.Implementation{Name: "t", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, tr
}

func callSlow(ctx context.Context, c *client.Client) (*mcp.CallToolResult, error) {
	var req mcp.CallToolRequest
	req.Params.Name = "slow"
	return c.CallTool(ctx, req)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// blockingTool blocks until its context ends (reporting why) or release closes.
type blockingTool struct {
	started   chan struct{}
	release   chan struct{}
	cancelled chan error
}

func newBlockingTool() *blockingTool {
	return &blockingTool{started: make(chan struct{}, 10), release: make(chan struct{}), cancelled: make(chan error, 10)}
}

func (b *blockingTool) handle(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	b.started <- struct{}{}
	select {
	case <-ctx.Done():
		b.cancelled <- context.Cause(ctx)
		return nil, ctx.Err()
	case <-b.release:
		return mcp.NewToolResultText("done"), nil
	case <-time.After(10 * time.Second):
		return mcp.NewToolResultText("never cancelled"), nil
	}
}

func TestSSEClientGoneCancelsItsCalls(t *testing.T) {
	tool := newBlockingTool()
	rig := newSSERig(t, Options{}, tool.handle)
	c, _ := rig.connect(t, nil)
	go func() { _, _ = callSlow(context.Background(), c) }()
	<-tool.started
	if n := rig.g.InFlight(); n != 1 {
		t.Errorf("in flight: %d", n)
	}
	_ = c.Close() // the client goes away mid-call
	select {
	case cause := <-tool.cancelled:
		if !errors.Is(cause, errStreamGone) {
			t.Errorf("cause: %v", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call was not cancelled when its SSE client went away")
	}
	eventually(t, "no call in flight", func() bool { return rig.g.InFlight() == 0 })
	eventually(t, "the log line", func() bool { return strings.Contains(rig.logs.String(), "sse client went away") })
}

func TestSSEAnswerCountsCallOut(t *testing.T) {
	tool := newBlockingTool()
	close(tool.release)
	rig := newSSERig(t, Options{MaxConcurrent: 1}, tool.handle)
	c, _ := rig.connect(t, nil)
	for i := range 3 { // with a cap of 1, each call must be counted out
		res, err := callSlow(context.Background(), c)
		if err != nil || res.IsError {
			t.Fatalf("call %d: %v %+v", i, err, res)
		}
		eventually(t, "no call in flight", func() bool { return rig.g.InFlight() == 0 })
	}
}

func TestSSEConcurrencyCap(t *testing.T) {
	tool := newBlockingTool()
	rig := newSSERig(t, Options{MaxConcurrent: 1}, tool.handle)
	c, _ := rig.connect(t, nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		if res, err := callSlow(context.Background(), c); err != nil || res.IsError {
			t.Errorf("first call: %v", err)
		}
	})
	<-tool.started
	_, err := callSlow(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "at most 1 tool calls at once") {
		t.Errorf("second call: %v", err)
	}
	close(tool.release)
	wg.Wait()
}

func TestSSESessionBelongsToItsCaller(t *testing.T) {
	tool := newBlockingTool()
	close(tool.release)
	rig := newSSERig(t, Options{Tokens: []string{tokA, tokB}}, tool.handle)
	_, tr := rig.connect(t, map[string]string{"Authorization": "Bearer " + tokA})
	endpoint := tr.GetEndpoint().String()
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`
	resp, text := do(t, "POST", endpoint, map[string]string{"Authorization": "Bearer " + tokB, "Content-Type": "application/json"}, body)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("B posting into A's session: %d %s", resp.StatusCode, text)
	}
	if resp, _ := do(t, "POST", endpoint, map[string]string{"Authorization": "Bearer " + tokA, "Content-Type": "application/json"}, body); resp.StatusCode != http.StatusAccepted {
		t.Errorf("A posting into A's session: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", rig.ts.URL+"/sse", nil, ""); resp.StatusCode != 401 {
		t.Errorf("stream without a token: %d", resp.StatusCode)
	}
}

func TestAbortCancelsCalls(t *testing.T) {
	tool := newBlockingTool()
	rig := newSSERig(t, Options{}, tool.handle)
	c, _ := rig.connect(t, nil)
	go func() { _, _ = callSlow(context.Background(), c) }()
	<-tool.started
	rig.g.Drain()
	rig.g.Abort()
	select {
	case <-tool.cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("Abort did not cancel the call")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rig.g.Wait(ctx); err != nil {
		t.Error(err)
	}
}

func TestStreamWriterFindsResponses(t *testing.T) {
	g, _ := New(Options{})
	st := &sseStream{pending: map[string][]*call{}}
	released := map[string]int{}
	add := func(id string) {
		st.pending[id] = append(st.pending[id], &call{release: func() { released[id]++ }})
	}
	for _, id := range []string{"n1", "n2", "sabc", "n4", "n5"} {
		add(id)
	}
	rec := httptest.NewRecorder()
	sw := &streamWriter{ResponseWriter: rec, g: g, st: st}
	stream := "event: endpoint\ndata: /message?sessionId=x\r\n\r\n" +
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n" +
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n\n" + // a server request, not an answer
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"result\":{\"x\":[1,{\"id\":4}]},\"id\":\"abc\"}\n\n" +
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\ndata: \"id\":4,\"error\":{\"code\":1}}\n\n" + // data split over lines
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}\n\n"
	// Write it in awkward pieces.
	for i := 0; i < len(stream); i += 7 {
		end := min(i+7, len(stream))
		if _, err := sw.Write([]byte(stream[i:end])); err != nil {
			t.Fatal(err)
		}
	}
	sw.Flush()
	if rec.Body.String() != stream {
		t.Error("the stream was altered")
	}
	want := map[string]int{"n1": 1, "sabc": 1, "n4": 1, "n5": 1}
	for id, n := range want {
		if released[id] != n {
			t.Errorf("%s released %d times", id, released[id])
		}
	}
	if released["n2"] != 0 || len(st.pending) != 1 {
		t.Errorf("a server request must not count as an answer: %v, pending %v", released, st.pending)
	}
	for _, bad := range []string{`{"id":1}`, `{"result":1}`, `{"id":null,"result":1}`, `{"result":1,"id":`, `nope`} {
		if id, ok := responseID([]byte(bad)); ok {
			t.Errorf("%s: id %q", bad, id)
		}
	}
}

func TestKeepAliveComments(t *testing.T) {
	tool := newBlockingTool()
	rig := newSSERig(t, Options{KeepAlive: 10 * time.Millisecond}, tool.handle)
	// A raw stream shows the comments between events.
	req, _ := http.NewRequest("GET", rig.ts.URL+"/sse", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var got strings.Builder
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(got.String(), ": keep-alive\n\n") && time.Now().Before(deadline); {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	if s := got.String(); !strings.HasPrefix(s, "event: endpoint\n") || !strings.Contains(s, ": keep-alive\n\n") {
		t.Errorf("stream: %q", s)
	}
	// Clients ignore them, mid-call included.
	c, _ := rig.connect(t, nil)
	go func() {
		time.Sleep(100 * time.Millisecond)
		close(tool.release)
	}()
	res, err := callSlow(context.Background(), c)
	if err != nil || res.IsError || mcp.GetTextFromContent(res.Content[0]) != "done" {
		t.Errorf("call with keep-alives: %v %+v", err, res)
	}
}
