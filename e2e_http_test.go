package main

import (
	"context"
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
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
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
	bin := buildBinary(t)
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
	bin := buildBinary(t)
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
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			b := backends[next.Add(1)%uint64(len(backends))]
			mu.Lock()
			served[b.Host]++
			mu.Unlock()
			r.SetURL(b)
			r.SetXForwarded()
		},
		FlushInterval: -1,
	})
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
