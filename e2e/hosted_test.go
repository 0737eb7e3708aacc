package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// proc is the built binary serving HTTP on a free loopback port.
type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	exited chan error
}

// startProc starts the binary with args and env added to the test's
// environment, and waits until it listens. It is killed at the end of the test
// if it is still running.
func startProc(t *testing.T, bin string, args []string, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	var vars []string
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	cmd.Env = serverEnv(vars...)
	p := &proc{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for _, s := range secrets {
			if strings.Contains(p.stderr.String(), s) {
				t.Errorf("the log shows a secret (%s...)", s[:6])
			}
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := listeningRE.FindStringSubmatch(p.stderr.String()); m != nil {
			p.url = "http://" + m[1]
			return p
		}
		select {
		case err := <-p.exited:
			t.Fatalf("exited: %v\n%s", err, p.stderr.String())
		default:
		}
	}
	t.Fatalf("did not start:\n%s", p.stderr.String())
	return nil
}

// TestHostedSIGTERM: SIGTERM with a call in flight on each transport: both
// calls complete, the server stops accepting, closes the SSE session, exits 0.
func TestHostedSIGTERM(t *testing.T) {
	t.Parallel()
	bin := bin
	fake := nanogpttest.New(serverKey)
	t.Cleanup(fake.Close)
	arrived := make(chan struct{}, 2)
	release := make(chan struct{})
	fake.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
			nanogpttest.JSON(w, nanogpttest.ChatCompletion("m", "finished after SIGTERM"))
		case <-r.Context().Done():
		}
	})
	p := startProc(t, bin, []string{"--transport", "http", "--shutdown-timeout", "20s"}, map[string]string{
		"NANOGPT_API_KEY": serverKey, "NANOGPT_BASE_URL": fake.URL, "NANOGPT_MCP_AUTH_TOKENS": hostToken, "NANOGPT_MCP_LOG_LEVEL": "debug"})
	h := map[string]string{"Authorization": "Bearer " + hostToken}
	results := make(chan string, 2)
	for _, kind := range []string{"http", "sse"} {
		c, err := mcpClient(t, p.url, kind, h)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			text, err := ask(ctx, c, "slow")
			if err != nil {
				text = kind + ": " + err.Error()
			}
			results <- text
		}()
	}
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("calls did not reach NanoGPT")
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.stderr.String(), "shutting down"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown:\n%s", p.stderr.String())
		}
	}
	// No longer accepting: new connections are refused (the listener closes
	// right after the log line).
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(p.url + "/healthz")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("still accepting connections while draining: %d", resp.StatusCode)
		}
	}
	select {
	case err := <-p.exited:
		t.Fatalf("exited with calls in flight: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	for range 2 {
		select {
		case text := <-results:
			if text != "finished after SIGTERM" {
				t.Errorf("in-flight call: %q", text)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("in-flight call did not finish")
		}
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("did not exit after the calls finished:\n%s", p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "msg=stopped") {
		t.Errorf("no clean stop:\n%s", p.stderr.String())
	}
}

// TestHostedReplicas runs three stateless replicas behind a round-robin proxy:
// a client's whole session (initialize, list, calls) succeeds though its
// requests land on different replicas.
func TestHostedReplicas(t *testing.T) {
	t.Parallel()
	bin := bin
	fake := chatFakeFor(t, serverKey)
	var backends []*url.URL
	for range 3 {
		p := startProc(t, bin, []string{"--transport", "http", "--stateless"}, map[string]string{
			"NANOGPT_API_KEY": serverKey, "NANOGPT_BASE_URL": fake.URL, "NANOGPT_MCP_AUTH_TOKENS": hostToken})
		u, _ := url.Parse(p.url)
		backends = append(backends, u)
	}
	var next atomic.Uint64
	var mu sync.Mutex
	served := map[string]int{}
	proxy := httptest.NewServer(bufferRequestBody(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			b := backends[next.Add(1)%uint64(len(backends))]
			mu.Lock()
			served[b.Host]++
			mu.Unlock()
			r.SetURL(b)
			r.SetXForwarded()
		},
		FlushInterval: -1,
	}))
	t.Cleanup(proxy.Close)
	h := map[string]string{"Authorization": "Bearer " + hostToken}

	// A 2025-06-18 client: initialize, then every request on another replica.
	c, err := mcpClient(t, proxy.URL, "http", h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.ListTools(ctx, mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if text, err := ask(ctx, c, "replica"); err != nil || text != "ok" {
			t.Fatalf("call %d: %q %v", i, text, err)
		}
	}
	// A client on the sessionless 2026-07-28 protocol, also through the proxy.
	tr, err := transport.NewStreamableHTTP(proxy.URL+"/mcp", transport.WithHTTPHeaders(h))
	if err != nil {
		t.Fatal(err)
	}
	modern := client.NewClient(tr)
	if err := modern.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer modern.Close()
	var init mcp.InitializeRequest
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "modern", Version: "0"}
	if _, err := modern.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if text, err := ask(ctx, modern, "modern"); err != nil || text != "ok" {
			t.Fatalf("modern call %d: %q %v", i, text, err)
		}
	}
	// The official TypeScript client, session and all, through the proxy.
	t.Run("typescript", func(t *testing.T) {
		node := requireNode(t)
		out := runNode(t, node, map[string]string{"MCP_URL": proxy.URL, "MCP_TRANSPORT": "http", "MCP_TOKEN": hostToken, "MCP_CALLS": "4"})
		if len(out.Sessions) != 1 || len(out.Sessions[0].Results) != 4 {
			t.Fatalf("TypeScript session: %+v", out)
		}
		for _, r := range out.Sessions[0].Results {
			if r.IsError || r.Text != "ok" {
				t.Errorf("TypeScript call: %+v", r)
			}
		}
	})
	mu.Lock()
	defer mu.Unlock()
	for _, b := range backends {
		if served[b.Host] < 3 {
			t.Errorf("replica %s served %d requests: the proxy did not spread the session", b.Host, served[b.Host])
		}
	}
}

// bufferRequestBody reads the request body into memory before next runs, as
// nginx and most load balancers do. A bare httputil.ReverseProxy cuts answers
// short on a busy machine: Go's HTTP/1 server closes an inbound request body
// as soon as the response headers go out, but the proxy's transport reads that
// body once more, in its own goroutine, after copying Content-Length bytes to
// the backend (to check it ends there). When the backend has answered and the
// proxy has begun relaying before that read runs, it fails ("invalid Read on
// closed Body"), the transport closes the backend connection, and the answer
// in transit is truncated ("use of closed network connection";
// golang/go#40747). With the body in memory, the transport never reads the
// server's request body.
func bufferRequestBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body, r.ContentLength, r.TransferEncoding = io.NopCloser(bytes.NewReader(body)), int64(len(body)), nil
		}
		next.ServeHTTP(w, r)
	})
}

// TestReplicaProxyLateBodyRead replays deterministically what truncated
// answers in TestHostedReplicas on a busy machine: the proxy's transport makes
// its final read of the request body only after the answer has started
// reaching the client. The whole answer must still arrive.
func TestReplicaProxyLateBodyRead(t *testing.T) {
	t.Parallel()
	half := strings.Repeat("x", 16<<10) // more than the transport's read buffer
	sent := make(chan struct{})         // the transport is done with the request body
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, err := io.ReadAll(r.Body); err != nil || string(b) != "request" {
			t.Errorf("backend got %q %v", b, err)
		}
		_, _ = io.WriteString(w, half)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-sent:
		case <-time.After(10 * time.Second):
			t.Error("the transport never closed the request body")
		}
		_, _ = io.WriteString(w, half)
	}))
	t.Cleanup(backend.Close)
	u, _ := url.Parse(backend.URL)
	answering := make(chan struct{}) // the client has the response headers
	proxy := httptest.NewServer(bufferRequestBody(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Body = &lateEOFReader{ReadCloser: r.Out.Body, left: r.Out.ContentLength, wait: answering, closed: sent}
		},
		ErrorLog: log.New(&tlogWriter{t}, "", 0),
	}))
	t.Cleanup(proxy.Close)
	resp, err := http.Post(proxy.URL, "text/plain", strings.NewReader("request"))
	close(answering)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || len(body) != 2*len(half) {
		t.Fatalf("the answer was cut short: %d of %d bytes, %v", len(body), 2*len(half), err)
	}
}

// lateEOFReader passes a request body through, but holds any read after its
// last byte (the transport's check that the body ends there) until wait is
// closed. It closes closed when the transport closes it.
type lateEOFReader struct {
	io.ReadCloser
	left         int64
	wait, closed chan struct{}
	once         sync.Once
}

func (l *lateEOFReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		<-l.wait
	}
	n, err := l.ReadCloser.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *lateEOFReader) Close() error {
	defer l.once.Do(func() { close(l.closed) })
	return l.ReadCloser.Close()
}

// tlogWriter sends a logger's lines to the test log.
type tlogWriter struct{ t *testing.T }

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// hosted is a server started in-process with run(), on a free loopback port.
type hosted struct {
	url  string
	logs *lockedBuffer
}

// startHosted runs the built server with args and env (and debug logs) on a
// free loopback port until the test ends; the test fails if it does not stop
// cleanly on SIGTERM.
func startHosted(t *testing.T, args []string, env map[string]string) *hosted {
	t.Helper()
	full := map[string]string{"NANOGPT_MCP_LOG_LEVEL": "debug"}
	for k, v := range env {
		full[k] = v
	}
	p := startProc(t, bin, args, full)
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.exited:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return &hosted{url: p.url, logs: p.stderr}
}

// mcpClient connects an mcp-go client (protocol 2025-06-18) over kind (http or sse).
func mcpClient(t *testing.T, base, kind string, headers map[string]string) (*client.Client, error) {
	t.Helper()
	var tr transport.Interface
	var err error
	if kind == "sse" {
		tr, err = transport.NewSSE(base+"/sse", transport.WithHeaders(headers))
	} else {
		tr, err = transport.NewStreamableHTTP(base+"/mcp", transport.WithHTTPHeaders(headers))
	}
	if err != nil {
		return nil, err
	}
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.ProtocolVersion20250618))
	if err := c.Start(context.Background()); err != nil { // an SSE stream lives as long as this context
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var init mcp.InitializeRequest
	init.Params.ProtocolVersion = mcp.ProtocolVersion20250618
	init.Params.ClientInfo = mcp.Implementation{Name: "hosting-e2e", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		_ = c.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, nil
}

// unauthorized reports whether a connection failed with a 401.
func unauthorized(err error) bool {
	var ae *transport.AuthorizationRequiredError
	return errors.As(err, &ae)
}

func ask(ctx context.Context, c *client.Client, prompt string) (string, error) {
	var req mcp.CallToolRequest
	req.Params.Name = "ask"
	req.Params.Arguments = map[string]any{"model": "m", "userPrompt": prompt}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return "", err
	}
	text := mcp.GetTextFromContent(res.Content[0])
	if res.IsError {
		return "", fmt.Errorf("tool error: %s", text)
	}
	return text, nil
}

// rawPost posts body to url with headers and returns the answer.
func rawPost(t *testing.T, url string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}`

// keyFake is a fake NanoGPT that accepts the callers' keys (not the
// server's), answers with the key it saw, and records every key used.
type keyFake struct {
	*nanogpttest.Server
	mu   sync.Mutex
	used map[string]int
}

func newKeyFake(t *testing.T, keys ...string) *keyFake {
	f := &keyFake{Server: nanogpttest.New(""), used: map[string]int{}}
	t.Cleanup(f.Close)
	names := map[string]string{aliceKey: "alice", bobKey: "bob", serverKey: "server"}
	f.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		f.used[key]++
		f.mu.Unlock()
		if r.Header.Get("x-api-key") != key || !contains(keys, key) {
			nanogpttest.Error(w, 401, `{"error":{"message":"Invalid API key","type":"authentication_error"}}`)
			return
		}
		nanogpttest.JSON(w, nanogpttest.ChatCompletion("m", "paid by "+names[key]))
	})
	return f
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (f *keyFake) keysUsed() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.used {
		out[k] = v
	}
	return out
}

// TestHostedServerKey: both transports with access tokens and the server's key:
// list and call tools; 401 without or with a wrong token; 403 for a foreign
// Origin or Host.
func TestHostedServerKey(t *testing.T) {
	fake := nanogpttest.New(serverKey)
	t.Cleanup(fake.Close)
	fake.Handle("POST /api/v1/chat/completions", nanogpttest.ChatHandler(func(req map[string]any) string {
		msgs := req["messages"].([]any)
		return "echo: " + msgs[len(msgs)-1].(map[string]any)["content"].(string)
	}))
	srv := startHosted(t, []string{"--transport", "http"}, map[string]string{
		"NANOGPT_API_KEY": serverKey, "NANOGPT_BASE_URL": fake.URL, "NANOGPT_MCP_AUTH_TOKENS": hostToken + "," + hostToken2})
	good := map[string]string{"Authorization": "Bearer " + hostToken}
	for _, kind := range []string{"http", "sse"} {
		t.Run(kind, func(t *testing.T) {
			c, err := mcpClient(t, srv.url, kind, good)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			list, err := c.ListTools(ctx, mcp.ListToolsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, tool := range list.Tools {
				found = found || tool.Name == "ask"
			}
			if !found {
				t.Errorf("tools/list lacks ask")
			}
			if text, err := ask(ctx, c, "hi over "+kind); err != nil || text != "echo: hi over "+kind {
				t.Errorf("ask: %q %v", text, err)
			}
			for name, headers := range map[string]map[string]string{
				"no token":    nil,
				"wrong token": {"Authorization": "Bearer access-token-wrong-0123456789"},
			} {
				if _, err := mcpClient(t, srv.url, kind, headers); !unauthorized(err) {
					t.Errorf("%s: %v", name, err)
				}
			}
			withOrigin := map[string]string{"Authorization": "Bearer " + hostToken, "Origin": "https://evil.example"}
			// mcp-go's streamable client hides the status ("server returned
			// 4xx"); the raw requests below check it is 403.
			if _, err := mcpClient(t, srv.url, kind, withOrigin); err == nil || kind == "sse" && !strings.Contains(err.Error(), "403") {
				t.Errorf("foreign Origin: %v", err)
			}
			withLocalOrigin := map[string]string{"Authorization": "Bearer " + hostToken2, "Origin": "http://localhost:6274"}
			if _, err := mcpClient(t, srv.url, kind, withLocalOrigin); err != nil {
				t.Errorf("loopback Origin: %v", err)
			}
		})
	}
	// The same answers at the HTTP level, with their headers.
	for _, path := range []string{"/mcp", "/message?sessionId=x"} {
		resp, body := rawPost(t, srv.url+path, nil, initBody)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s without a token: %d %q %s", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
		resp, _ = rawPost(t, srv.url+path, map[string]string{"Authorization": "Bearer nope-nope-nope-nope-nope"}, initBody)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s with a wrong token: %d %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if resp, _ := rawPost(t, srv.url+path, map[string]string{"Authorization": "Bearer " + hostToken, "Origin": "https://evil.example"}, initBody); resp.StatusCode != 403 {
			t.Errorf("%s foreign Origin: %d", path, resp.StatusCode)
		}
		if resp, _ := rawPost(t, srv.url+path, map[string]string{"Authorization": "Bearer " + hostToken, "Host": "evil.example"}, initBody); resp.StatusCode != 403 {
			t.Errorf("%s foreign Host: %d", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", srv.url+"/sse", nil)
	req.Host = "rebound.attacker.example"
	req.Header.Set("Authorization", "Bearer "+hostToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("GET /sse with a foreign Host: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, err := http.Get(srv.url + p); err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", p, resp, err)
		} else {
			resp.Body.Close()
		}
	}
	for _, r := range fake.Requests() {
		if r.Header.Get("Authorization") != "Bearer "+serverKey {
			t.Errorf("NanoGPT got another key than the server's")
		}
	}
}

// TestHostedCallerKeys: two callers at once over each transport, each paying
// with their own key; the server's key is never used; no key is a 401.
func TestHostedCallerKeys(t *testing.T) {
	fake := newKeyFake(t, aliceKey, bobKey)
	srv := startHosted(t, []string{"--transport", "http", "--key-mode", "caller"}, map[string]string{
		"NANOGPT_API_KEY": serverKey, "NANOGPT_BASE_URL": fake.URL, "NANOGPT_MCP_AUTH_TOKENS": hostToken})
	tok := map[string]string{"X-MCP-Access-Token": hostToken}
	headers := func(keyHeader, key string) map[string]string {
		h := map[string]string{keyHeader: key}
		for k, v := range tok {
			h[k] = v
		}
		return h
	}
	callers := []struct {
		name, kind string
		headers    map[string]string
	}{
		{"alice", "http", headers("Authorization", "Bearer "+aliceKey)},
		{"bob", "http", headers("x-api-key", bobKey)},
		{"alice", "sse", headers("x-api-key", aliceKey)},
		{"bob", "sse", headers("Authorization", "Bearer "+bobKey)},
	}
	var wg sync.WaitGroup
	for _, c := range callers {
		cl, err := mcpClient(t, srv.url, c.kind, c.headers)
		if err != nil {
			t.Fatalf("%s over %s: %v", c.name, c.kind, err)
		}
		for i := range 3 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				text, err := ask(ctx, cl, fmt.Sprintf("%s %d", c.name, i))
				if err != nil || text != "paid by "+c.name {
					t.Errorf("%s over %s: %q %v", c.name, c.kind, text, err)
				}
			})
		}
	}
	wg.Wait()
	used := fake.keysUsed()
	if used[aliceKey] != 6 || used[bobKey] != 6 || len(used) != 2 {
		t.Errorf("keys NanoGPT saw (want 6 alice, 6 bob, nothing else): alice %d bob %d, %d distinct", used[aliceKey], used[bobKey], len(used))
	}
	for _, kind := range []string{"http", "sse"} {
		if _, err := mcpClient(t, srv.url, kind, tok); !unauthorized(err) {
			t.Errorf("%s without a key: %v", kind, err)
		}
	}
	resp, body := rawPost(t, srv.url+"/mcp", tok, initBody)
	if resp.StatusCode != 401 || !strings.Contains(body, "NanoGPT API key") || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_request") {
		t.Errorf("no key: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	if resp, _ := rawPost(t, srv.url+"/mcp", map[string]string{"Authorization": "Bearer " + aliceKey}, initBody); resp.StatusCode != 401 {
		t.Errorf("key without the access token: %d", resp.StatusCode)
	}
	if resp, _ := http.Get(srv.url + "/readyz"); resp == nil || resp.StatusCode != 200 {
		t.Errorf("caller mode needs no server key to be ready: %v", resp)
	}
	if !strings.Contains(srv.logs.String(), "NANOGPT_API_KEY is set but not used") {
		t.Error("the ignored server key is not reported")
	}
}

func TestHostedRateLimit(t *testing.T) {
	fake := chatFakeFor(t, serverKey)
	// initialize counts against the limit like a tool call (issue 11): 1 + 2 calls.
	srv := startHosted(t, []string{"--transport", "http", "--rate-limit", "3"}, map[string]string{
		"NANOGPT_API_KEY": serverKey, "NANOGPT_BASE_URL": fake.URL, "NANOGPT_MCP_AUTH_TOKENS": hostToken})
	h := map[string]string{"Authorization": "Bearer " + hostToken}
	c, err := mcpClient(t, srv.url, "http", h)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 2 {
		if _, err := ask(ctx, c, "ok"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if _, err := ask(ctx, c, "one too many"); err == nil || !strings.Contains(err.Error(), "too many requests") {
		t.Errorf("third call: %v", err)
	}
	resp, body := rawPost(t, srv.url+"/mcp", h, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ask","arguments":{"model":"m","userPrompt":"x"}}}`)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "3 tool calls per minute") {
		t.Errorf("raw call over the limit: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Listing is not a tool call: still served.
	if _, err := c.ListTools(ctx, mcp.ListToolsRequest{}); err != nil {
		t.Errorf("tools/list after the limit: %v", err)
	}
	// Over SSE the POST is refused the same way: here already its initialize.
	sc, err := mcpClient(t, srv.url, "sse", h)
	if err == nil {
		_, err = ask(ctx, sc, "sse")
	}
	if err == nil || !strings.Contains(err.Error(), "429") {
		t.Errorf("SSE over the limit: %v", err)
	}
}

func chatFakeFor(t *testing.T, key string) *nanogpttest.Server {
	fake := nanogpttest.New(key)
	t.Cleanup(fake.Close)
	fake.Handle("POST /api/v1/chat/completions", nanogpttest.ChatHandler(func(map[string]any) string { return "ok" }))
	return fake
}

// TestHostedSSEDisconnectCancelsUpstream: an SSE client that goes away
// mid-call cancels the NanoGPT request it caused.
func TestHostedSSEDisconnectCancelsUpstream(t *testing.T) {
	fake := nanogpttest.New(serverKey)
	t.Cleanup(fake.Close)
	arrived := make(chan struct{}, 1)
	cancelled := make(chan struct{}, 1)
	fake.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(10 * time.Second):
			nanogpttest.JSON(w, nanogpttest.ChatCompletion("m", "too late"))
		}
	})
	srv := startHosted(t, []string{"--transport", "sse"}, map[string]string{
		"NANOGPT_API_KEY": serverKey, "NANOGPT_BASE_URL": fake.URL, "NANOGPT_MCP_AUTH_TOKENS": hostToken})
	c, err := mcpClient(t, srv.url, "sse", map[string]string{"Authorization": "Bearer " + hostToken})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = ask(context.Background(), c, "long") }()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the call never reached NanoGPT")
	}
	_ = c.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("NanoGPT's request was not cancelled when the SSE client went away")
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(srv.logs.String(), "sse client went away"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line:\n%s", srv.logs.String())
		}
	}
}

// TestHostedTypeScriptClient drives both transports from the official
// TypeScript SDK: server key with negative checks, then per-caller keys with
// two clients at once.
func TestHostedTypeScriptClient(t *testing.T) {
	node := requireNode(t)
	fake := newKeyFake(t, serverKey, aliceKey, bobKey)
	serverMode := startHosted(t, []string{"--transport", "http"}, map[string]string{
		"NANOGPT_API_KEY": serverKey, "NANOGPT_BASE_URL": fake.URL, "NANOGPT_MCP_AUTH_TOKENS": hostToken})
	callerMode := startHosted(t, []string{"--transport", "http", "--key-mode", "caller"}, map[string]string{
		"NANOGPT_BASE_URL": fake.URL, "NANOGPT_MCP_AUTH_TOKENS": hostToken})
	var calls atomic.Int32
	for _, kind := range []string{"http", "sse"} {
		t.Run(kind+"/server-key", func(t *testing.T) {
			out := runNode(t, node, map[string]string{"MCP_URL": serverMode.url, "MCP_TRANSPORT": kind, "MCP_TOKEN": hostToken, "MCP_NEGATIVE": "1"})
			checkTS(t, out, []string{"server"}, 1)
			calls.Add(1)
			for name, got := range map[string]tsRefusal{"no token": out.NoToken, "wrong token": out.WrongToken} {
				if got.Status != 401 {
					t.Errorf("%s: %+v", name, got)
				}
			}
			if out.ForeignOrigin.Status != 403 {
				t.Errorf("foreign Origin: %+v", out.ForeignOrigin)
			}
		})
		t.Run(kind+"/caller-keys", func(t *testing.T) {
			out := runNode(t, node, map[string]string{"MCP_URL": callerMode.url, "MCP_TRANSPORT": kind, "MCP_TOKEN": hostToken,
				"MCP_TOKEN_HEADER": "X-MCP-Access-Token", "MCP_KEYS": aliceKey + "," + bobKey, "MCP_CALLS": "3", "MCP_NEGATIVE": "1"})
			checkTS(t, out, []string{"alice", "bob"}, 3)
			if out.NoToken.Status != 401 || out.WrongToken.Status != 401 || out.ForeignOrigin.Status != 403 {
				t.Errorf("refusals: %+v %+v %+v", out.NoToken, out.WrongToken, out.ForeignOrigin)
			}
		})
	}
	used := fake.keysUsed()
	if used[serverKey] != int(calls.Load()) || used[aliceKey] != 6 || used[bobKey] != 6 {
		t.Errorf("keys NanoGPT saw: server %d (want %d), alice %d, bob %d (want 6 each)", used[serverKey], calls.Load(), used[aliceKey], used[bobKey])
	}
}

type tsRefusal struct {
	Status  int
	Message string
}

type tsOut struct {
	Sessions []struct {
		Label   string
		Tools   []string
		Server  string
		Results []struct {
			IsError bool
			Text    string
		}
	}
	NoToken, WrongToken, ForeignOrigin tsRefusal
}

func runNode(t *testing.T, node string, env map[string]string) tsOut {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/node/hosting.mjs")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node e2e/hosting.mjs: %v\n%s\n%s", err, out, stderr.String())
	}
	var got tsOut
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return got
}

func checkTS(t *testing.T, out tsOut, payers []string, calls int) {
	t.Helper()
	if len(out.Sessions) != len(payers) {
		t.Fatalf("sessions: %+v", out.Sessions)
	}
	for i, s := range out.Sessions {
		if s.Server != "nanogpt-mcp" || !contains(s.Tools, "ask") || len(s.Results) != calls {
			t.Errorf("session %d: %+v", i, s)
		}
		for _, r := range s.Results {
			if r.IsError || r.Text != "paid by "+payers[i] {
				t.Errorf("session %d (%s): %+v", i, payers[i], r)
			}
		}
	}
}
