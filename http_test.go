package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// Secrets the hosted tests use; none may ever show up in a log or an answer.
const (
	hostToken  = "access-token-0123456789abcdef"
	hostToken2 = "access-token-fedcba9876543210"
	serverKey  = "sk-server-key-never-for-callers"
	aliceKey   = "sk-alice-0123456789"
	bobKey     = "sk-bob-0123456789"
)

var secrets = []string{hostToken, hostToken2, serverKey, aliceKey, bobKey}

// hosted is a server started in-process with run(), on a free loopback port.
type hosted struct {
	url  string
	logs *lockedBuffer
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startHosted runs the server with args and env (plus NANOGPT_MCP_ADDR=127.0.0.1:0
// and debug logs) until the test ends; the test fails if it does not stop cleanly.
func startHosted(t *testing.T, args []string, env map[string]string) *hosted {
	t.Helper()
	full := map[string]string{"NANOGPT_MCP_ADDR": "127.0.0.1:0", "NANOGPT_MCP_LOG_LEVEL": "debug"}
	for k, v := range env {
		full[k] = v
	}
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return full[k] }, strings.NewReader(""), io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
		for _, s := range secrets {
			if strings.Contains(logs.String(), s) {
				t.Errorf("the log shows a secret (%s...):\n%s", s[:6], logs.String())
			}
		}
	})
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := listeningRE.FindStringSubmatch(logs.String()); m != nil {
			return &hosted{url: "http://" + m[1], logs: logs}
		}
		select {
		case err := <-done:
			t.Fatalf("server stopped: %v\n%s", err, logs.String())
		default:
		}
	}
	t.Fatalf("server did not start:\n%s", logs.String())
	return nil
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

func TestHostingConfig(t *testing.T) {
	parse := func(args []string, env map[string]string) (config, error) {
		return parseConfig(args, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}
	// A non-loopback address needs tokens, or an explicit --allow-no-auth.
	_, err := parse([]string{"--transport", "http", "--addr", "0.0.0.0:8080"}, nil)
	if err == nil || !strings.Contains(err.Error(), "--allow-no-auth") {
		t.Errorf("public bind without tokens: %v", err)
	}
	if _, err := parse([]string{"--transport", "sse", "--addr", ":8080", "--allow-no-auth"}, nil); err != nil {
		t.Errorf("--allow-no-auth: %v", err)
	}
	if _, err := parse([]string{"--transport", "http", "--addr", "0.0.0.0:8080"}, map[string]string{"NANOGPT_MCP_ALLOW_NO_AUTH": "true"}); err != nil {
		t.Errorf("$NANOGPT_MCP_ALLOW_NO_AUTH: %v", err)
	}
	if _, err := parse([]string{"--transport", "http", "--addr", "localhost:8080"}, nil); err != nil {
		t.Errorf("loopback without tokens: %v", err)
	}
	cfg, err := parse([]string{"--transport", "http", "--addr", "0.0.0.0:8080"}, map[string]string{"NANOGPT_MCP_AUTH_TOKENS": hostToken + " , " + hostToken2})
	if err != nil || len(cfg.hosting.tokens) != 2 || cfg.hosting.tokenHeader != "Authorization" {
		t.Errorf("tokens from the environment: %v %d %q", err, len(cfg.hosting.tokens), cfg.hosting.tokenHeader)
	}
	cfg, _ = parse([]string{"--transport", "http", "--auth-token", hostToken}, map[string]string{"NANOGPT_MCP_AUTH_TOKENS": hostToken2})
	if len(cfg.hosting.tokens) != 1 || cfg.hosting.tokens[0] != hostToken {
		t.Errorf("a flag must win over its environment twin: %d tokens", len(cfg.hosting.tokens))
	}
	if _, err := parse([]string{"--transport", "http", "--auth-token", "tiny"}, nil); err == nil || strings.Contains(err.Error(), "tiny") {
		t.Errorf("short token: %v", err)
	}
	// Per-caller keys: not over stdio; the server's key is dropped.
	if _, err := parse([]string{"--key-mode", "caller"}, nil); err == nil {
		t.Error("--key-mode caller over stdio accepted")
	}
	if _, err := parse([]string{"--transport", "http", "--key-mode", "both"}, nil); err == nil {
		t.Error("--key-mode both accepted")
	}
	cfg, err = parse([]string{"--transport", "http"}, map[string]string{"NANOGPT_MCP_KEY_MODE": "caller", "NANOGPT_API_KEY": serverKey})
	if err != nil || cfg.apiKey != "" || !cfg.hosting.serverKeyIgnored || cfg.hosting.tokenHeader != "X-MCP-Access-Token" {
		t.Errorf("caller mode: %v key dropped=%v header %q", err, cfg.apiKey == "", cfg.hosting.tokenHeader)
	}
	// Limits and durations.
	cfg, err = parse([]string{"--transport", "http", "--max-body", "2MiB", "--rate-limit", "0", "--max-concurrent", "3", "--stateless", "--shutdown-timeout", "5s"}, map[string]string{"NANOGPT_MCP_IDLE_TIMEOUT": "90s"})
	if err != nil || cfg.hosting.maxBody != 2<<20 || cfg.hosting.rateLimit != 0 || cfg.hosting.maxConcurrent != 3 || !cfg.hosting.stateless ||
		cfg.hosting.shutdownTimeout != 5*time.Second || cfg.hosting.idleTimeout != 90*time.Second || cfg.hosting.readHeaderTimeout != 10*time.Second {
		t.Errorf("limits: %v %+v", err, cfg.hosting)
	}
	for _, bad := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--max-body", "lots"}, nil},
		{[]string{"--max-body", "12"}, nil},
		{[]string{"--rate-limit", "-1"}, nil},
		{[]string{"--max-concurrent", "x"}, nil},
		{[]string{"--shutdown-timeout", "0s"}, nil},
		{[]string{"--allowed-origin", "evil.example"}, nil},
		{[]string{"--allowed-host", "*.example.com"}, nil},
		{[]string{"--public-url", "ftp://x"}, nil},
		{[]string{"--access-token-header", "Bad Header"}, nil},
		{[]string{"--addr", "nonsense"}, nil},
		{nil, map[string]string{"NANOGPT_MCP_STATELESS": "maybe"}},
	} {
		if _, err := parse(append([]string{"--transport", "http"}, bad.args...), bad.env); err == nil {
			t.Errorf("%v %v accepted", bad.args, bad.env)
		}
	}
	for in, want := range map[string]int64{"1048576": 1 << 20, "16MiB": 16 << 20, "512KiB": 512 << 10, "1G": 1 << 30, "2 mb": 2 << 20, "100B": 100} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
}

func TestHostingHelp(t *testing.T) {
	var errOut bytes.Buffer
	env := map[string]string{"NANOGPT_MCP_AUTH_TOKENS": hostToken}
	_ = run(context.Background(), []string{"--help"}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, &errOut)
	help := errOut.String()
	for _, want := range []string{"--auth-token", "$NANOGPT_MCP_AUTH_TOKENS", "--allow-no-auth", "$NANOGPT_MCP_ALLOW_NO_AUTH", "--key-mode", "$NANOGPT_MCP_KEY_MODE",
		"--access-token-header", "$NANOGPT_MCP_ACCESS_TOKEN_HEADER", "X-MCP-Access-Token", "--allowed-origin", "$NANOGPT_MCP_ALLOWED_ORIGINS", "--allowed-host", "$NANOGPT_MCP_ALLOWED_HOSTS",
		"--public-url", "$NANOGPT_MCP_PUBLIC_URL", "--max-body", "$NANOGPT_MCP_MAX_BODY", "--rate-limit", "$NANOGPT_MCP_RATE_LIMIT", "--max-concurrent", "$NANOGPT_MCP_MAX_CONCURRENT",
		"--stateless", "$NANOGPT_MCP_STATELESS", "--shutdown-timeout", "$NANOGPT_MCP_SHUTDOWN_TIMEOUT", "--read-header-timeout", "$NANOGPT_MCP_READ_HEADER_TIMEOUT", "--idle-timeout", "$NANOGPT_MCP_IDLE_TIMEOUT"} {
		if !strings.Contains(help, strings.TrimPrefix(want, "-")) {
			t.Errorf("--help lacks %s", want)
		}
	}
	if strings.Contains(help, hostToken) {
		t.Error("--help shows a token from the environment")
	}
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

// TestCallerKeyContext: in caller mode a request with no key reaches the tools
// as "no key", never as the server's key.
func TestCallerKeyContext(t *testing.T) {
	server := nanogpt.New(nanogpt.Config{APIKey: serverKey})
	if c, _ := clientFor(config{}, server)(context.Background()); c != server {
		t.Error("server mode: the server's client expected")
	}
	caller := config{hosting: hostingConfig{keyMode: "caller"}}
	if c, _ := clientFor(caller, server)(context.Background()); c.HasKey() {
		t.Error("caller mode with no caller key must have no key, never the server's")
	}
}

func TestHostedRateLimit(t *testing.T) {
	fake := chatFakeFor(t, serverKey)
	srv := startHosted(t, []string{"--transport", "http", "--rate-limit", "2"}, map[string]string{
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
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "2 tool calls per minute") {
		t.Errorf("raw call over the limit: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Listing is not a tool call: still served.
	if _, err := c.ListTools(ctx, mcp.ListToolsRequest{}); err != nil {
		t.Errorf("tools/list after the limit: %v", err)
	}
	// Over SSE the POST is refused the same way.
	sc, err := mcpClient(t, srv.url, "sse", h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ask(ctx, sc, "sse"); err == nil || !strings.Contains(err.Error(), "429") {
		t.Errorf("SSE call over the limit: %v", err)
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
	cmd := exec.CommandContext(ctx, node, "e2e/testdata/node/hosting.mjs")
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

func TestHostingConfigHidesTokens(t *testing.T) {
	cfg, err := parseConfig([]string{"--transport", "http"}, func(k string) string {
		return map[string]string{"NANOGPT_MCP_AUTH_TOKENS": hostToken}[k]
	}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg.hosting), fmt.Sprintf("%+v", cfg.hosting)} {
		if strings.Contains(s, hostToken) {
			t.Errorf("printed configuration shows a token: %s", s)
		}
	}
}
