package main

import (
	"bytes"
	"context"
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
