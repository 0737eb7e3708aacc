package hosting

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

const (
	tokA = "token-a-0123456789abcdef"
	tokB = "token-b-0123456789abcdef"
)

// logBuf collects log output safely.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestGate serves next at /mcp behind a Gate; the handler answers with the
// caller it saw, the body it read.
func newTestGate(t *testing.T, o Options, next http.Handler) (*Gate, *httptest.Server, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if next == nil {
		next = echoHandler()
	}
	ts := httptest.NewServer(g.Handler(Endpoints{Streamable: httpStreamable{next}}))
	t.Cleanup(ts.Close)
	return g, ts, logs
}

// httpStreamable serves a plain http.Handler through the Streamable seam, as
// a stand-in for mcp-go in these tests.
type httpStreamable struct{ http.Handler }

func (h httpStreamable) Handle(w server.HTTPResponseWriter, r *server.HTTPRequest) {
	req := httptest.NewRequestWithContext(r.Context, r.Method, r.URL.String(), bytes.NewReader(r.Body))
	req.Header = r.Header
	h.ServeHTTP(w, req)
}

type echoed struct {
	Caller       string
	Key          string
	Credentialed bool
	Body         string
}

func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := CallerFrom(r.Context())
		if !ok {
			http.Error(w, "no caller", 500)
			return
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(echoed{Caller: c.ID, Key: c.Key, Credentialed: c.credentialed, Body: string(body)})
	})
}

func do(t *testing.T, method, url string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAccessTokens(t *testing.T) {
	_, ts, logs := newTestGate(t, Options{Tokens: []string{tokA, tokB}}, nil)
	url := ts.URL + "/mcp"
	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
		www     string
	}{
		{"none", nil, 401, `Bearer realm="nanogpt-mcp"`},
		{"wrong", map[string]string{"Authorization": "Bearer token-c-0123456789abcdef"}, 401, `Bearer realm="nanogpt-mcp", error="invalid_token"`},
		{"prefix of a token", map[string]string{"Authorization": "Bearer " + tokA[:20]}, 401, `Bearer realm="nanogpt-mcp", error="invalid_token"`},
		{"not bearer", map[string]string{"Authorization": "Basic " + tokA}, 401, `Bearer realm="nanogpt-mcp"`},
		{"in another header", map[string]string{"X-MCP-Access-Token": tokA}, 401, `Bearer realm="nanogpt-mcp"`},
		{"first", map[string]string{"Authorization": "Bearer " + tokA}, 200, ""},
		{"second, lower-case scheme", map[string]string{"Authorization": "bearer " + tokB}, 200, ""},
	} {
		resp, body := do(t, "POST", url, tc.headers, `{}`)
		if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.www {
			t.Errorf("%s: %d %q, want %d %q (%s)", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.www, body)
		}
		if strings.Contains(body, "token-") {
			t.Errorf("%s: the answer shows a token: %s", tc.name, body)
		}
	}
	// Distinct tokens are distinct callers.
	_, a := do(t, "POST", url, map[string]string{"Authorization": "Bearer " + tokA}, `{}`)
	_, b := do(t, "POST", url, map[string]string{"Authorization": "Bearer " + tokB}, `{}`)
	var ea, eb echoed
	_ = json.Unmarshal([]byte(a), &ea)
	_ = json.Unmarshal([]byte(b), &eb)
	if ea.Caller == eb.Caller || !ea.Credentialed || len(ea.Caller) != 12 || ea.Key != "" {
		t.Errorf("callers: %+v %+v", ea, eb)
	}
	// Probes need no token.
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, body := do(t, "GET", ts.URL+p, nil, ""); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	if l := logs.String(); strings.Contains(l, "token-") || !strings.Contains(l, "wrong access token") {
		t.Errorf("logs must say why, never show a token:\n%s", l)
	}
}

func TestTokenInOwnHeader(t *testing.T) {
	_, ts, _ := newTestGate(t, Options{Tokens: []string{tokA}, TokenHeader: "X-MCP-Access-Token"}, nil)
	for _, tc := range []struct {
		headers map[string]string
		status  int
	}{
		{map[string]string{"X-MCP-Access-Token": tokA}, 200},
		{map[string]string{"X-MCP-Access-Token": "Bearer " + tokA}, 200},
		{map[string]string{"Authorization": "Bearer " + tokA}, 401},
		{map[string]string{"X-MCP-Access-Token": tokB}, 401},
	} {
		if resp, body := do(t, "POST", ts.URL+"/mcp", tc.headers, `{}`); resp.StatusCode != tc.status {
			t.Errorf("%v: %d %s", tc.headers, resp.StatusCode, body)
		}
	}
}

func TestTokenCheck(t *testing.T) {
	for _, bad := range []string{"tiny1", "has space 0123456789", "comma,0123456789abcdef", "tab\t0123456789abcdef"} {
		if err := CheckToken(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), bad) {
			t.Errorf("the error shows the token: %v", err)
		}
	}
	if _, err := New(Options{Tokens: []string{"short"}}); err == nil {
		t.Error("New accepted a short token")
	}
	g, _ := New(Options{Tokens: []string{tokA, tokB}})
	if !g.tokenValid(tokB) || g.tokenValid(tokB+"x") || g.tokenValid("") {
		t.Error("tokenValid")
	}
}

func TestCallerKeys(t *testing.T) {
	_, ts, logs := newTestGate(t, Options{CallerKeys: true, Tokens: []string{tokA}, TokenHeader: "X-MCP-Access-Token"}, nil)
	url := ts.URL + "/mcp"
	tok := map[string]string{"X-MCP-Access-Token": tokA}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range tok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
		key     string
	}{
		{"bearer", with("Authorization", "Bearer sk-alice"), 200, "sk-alice"},
		{"x-api-key", with("x-api-key", "sk-bob"), 200, "sk-bob"},
		{"both, same", with("Authorization", "Bearer sk-bob", "x-api-key", "sk-bob"), 200, "sk-bob"},
		{"both, different", with("Authorization", "Bearer sk-bob", "x-api-key", "sk-alice"), 400, ""},
		{"no key", tok, 401, ""},
		{"key but no token", map[string]string{"Authorization": "Bearer sk-alice"}, 401, ""},
	} {
		resp, body := do(t, "POST", url, tc.headers, `{}`)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
			continue
		}
		if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, resp.Header.Get("WWW-Authenticate"))
		}
		if tc.status != 200 {
			if strings.Contains(body, "sk-") {
				t.Errorf("%s: answer shows a key: %s", tc.name, body)
			}
			continue
		}
		var e echoed
		_ = json.Unmarshal([]byte(body), &e)
		if e.Key != tc.key {
			t.Errorf("%s: key %q, want %q", tc.name, e.Key, tc.key)
		}
	}
	if l := logs.String(); strings.Contains(l, "sk-") || strings.Contains(l, "token-") {
		t.Errorf("logs show a key or token:\n%s", l)
	}
	// Two keys are two callers even with one access token.
	_, a := do(t, "POST", url, with("Authorization", "Bearer sk-alice"), `{}`)
	_, b := do(t, "POST", url, with("Authorization", "Bearer sk-bob"), `{}`)
	if a == b {
		t.Error("two keys, one caller")
	}
	// Caller must not be logged or printed with its key.
	c := newCaller("key", "sk-alice", true)
	c.Key = "sk-alice"
	if s := c.String() + c.GoString(); strings.Contains(s, "sk-") {
		t.Errorf("Caller prints its key: %s", s)
	}
}

func TestCallerKeysWithTokenInAuthorization(t *testing.T) {
	_, ts, _ := newTestGate(t, Options{CallerKeys: true, Tokens: []string{tokA}, TokenHeader: "Authorization"}, nil)
	resp, body := do(t, "POST", ts.URL+"/mcp", map[string]string{"Authorization": "Bearer " + tokA, "x-api-key": "sk-carol"}, `{}`)
	var e echoed
	_ = json.Unmarshal([]byte(body), &e)
	if resp.StatusCode != 200 || e.Key != "sk-carol" {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	// The token must never be taken for a key.
	resp, body = do(t, "POST", ts.URL+"/mcp", map[string]string{"Authorization": "Bearer " + tokA}, `{}`)
	if resp.StatusCode != 401 || !strings.Contains(body, "x-api-key") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

func TestCallerKeysWithoutTokens(t *testing.T) {
	_, ts, _ := newTestGate(t, Options{CallerKeys: true}, nil)
	resp, body := do(t, "POST", ts.URL+"/mcp", map[string]string{"Authorization": "Bearer sk-dave"}, `{}`)
	var e echoed
	_ = json.Unmarshal([]byte(body), &e)
	if resp.StatusCode != 200 || e.Key != "sk-dave" {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "POST", ts.URL+"/mcp", nil, `{}`); resp.StatusCode != 401 {
		t.Errorf("no key: %d", resp.StatusCode)
	}
}

func TestOriginAndHost(t *testing.T) {
	_, ts, _ := newTestGate(t, Options{AllowedOrigins: []string{"https://App.example.com/"}}, nil)
	url := ts.URL + "/mcp"
	for _, tc := range []struct {
		headers map[string]string
		status  int
	}{
		{nil, 200},
		{map[string]string{"Origin": "http://localhost:5173"}, 200},
		{map[string]string{"Origin": "http://127.0.0.1"}, 200},
		{map[string]string{"Origin": "http://[::1]:6274"}, 200},
		{map[string]string{"Origin": "https://app.example.com"}, 200},
		{map[string]string{"Origin": "https://evil.example"}, 403},
		{map[string]string{"Origin": "https://app.example.com.evil.example"}, 403},
		{map[string]string{"Origin": "null"}, 403},
		{map[string]string{"Host": "localhost:1234"}, 200},
		{map[string]string{"Host": "evil.example"}, 403},
		{map[string]string{"Host": "evil.example:80"}, 403},
	} {
		if resp, body := do(t, "POST", url, tc.headers, `{}`); resp.StatusCode != tc.status {
			t.Errorf("%v: %d %s", tc.headers, resp.StatusCode, body)
		}
	}
	// A preflight from an allowed origin is answered without credentials.
	resp, _ := do(t, "OPTIONS", url, map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type, mcp-session-id"}, "")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "mcp-session-id") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := do(t, "OPTIONS", url, map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, ""); resp.StatusCode != 403 {
		t.Errorf("foreign preflight: %d", resp.StatusCode)
	}
}

func TestAllowedHosts(t *testing.T) {
	_, ts, _ := newTestGate(t, Options{AllowedHosts: []string{"mcp.example.com", "other.example:8443"}}, nil)
	for host, status := range map[string]int{
		"mcp.example.com": 200, "MCP.example.com:443": 200, "other.example:8443": 200, "other.example": 403,
		"localhost": 200, "evil.example": 403,
	} {
		if resp, _ := do(t, "POST", ts.URL+"/mcp", map[string]string{"Host": host}, `{}`); resp.StatusCode != status {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, status)
		}
	}
	// With allowed hosts the check applies on every address, not only loopback.
	g, _ := New(Options{AllowedHosts: []string{"mcp.example.com"}})
	r := httptest.NewRequest("POST", "http://evil.example/mcp", nil)
	if g.hostAllowed(r) {
		t.Error("allowed hosts must apply to non-loopback sockets")
	}
	// Without them a non-loopback socket accepts any Host (tokens protect it).
	g, _ = New(Options{})
	if !g.hostAllowed(r) {
		t.Error("no allowed hosts: any Host off loopback")
	}
}

func TestBodyCap(t *testing.T) {
	_, ts, _ := newTestGate(t, Options{MaxBody: 1024}, nil)
	url := ts.URL + "/mcp"
	if resp, body := do(t, "POST", url, nil, strings.Repeat("a", 1024)); resp.StatusCode != 200 || !strings.Contains(body, strings.Repeat("a", 1024)) {
		t.Errorf("at the cap: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "POST", url, nil, strings.Repeat("a", 1025)); resp.StatusCode != 413 {
		t.Errorf("over the cap: %d", resp.StatusCode)
	}
	// Chunked (no Content-Length): the cap holds while reading.
	req, _ := http.NewRequest("POST", url, io.MultiReader(strings.NewReader(strings.Repeat("b", 2000))))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked over the cap: %d", resp.StatusCode)
	}
}

func toolCall(id any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": map[string]any{"name": "x"}})
	return string(b)
}

func TestRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	_, ts, logs := newTestGate(t, Options{Tokens: []string{tokA, tokB}, RateLimit: 2, Now: clock}, nil)
	url := ts.URL + "/mcp"
	a := map[string]string{"Authorization": "Bearer " + tokA}
	b := map[string]string{"Authorization": "Bearer " + tokB}
	for i := range 2 {
		if resp, body := do(t, "POST", url, a, toolCall(i)); resp.StatusCode != 200 {
			t.Fatalf("call %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// Other requests are not tool calls and are not counted.
	if resp, _ := do(t, "POST", url, a, `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`); resp.StatusCode != 200 {
		t.Errorf("tools/list: %d", resp.StatusCode)
	}
	resp, body := do(t, "POST", url, a, toolCall(3))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" || !strings.Contains(body, "2 tool calls per minute") {
		t.Errorf("over the limit: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Another caller has their own bucket.
	if resp, _ := do(t, "POST", url, b, toolCall(1)); resp.StatusCode != 200 {
		t.Errorf("caller B: %d", resp.StatusCode)
	}
	// A batch is refused before anything runs (MCP has none; its calls
	// would escape the limits), so it costs no token.
	if resp, body := do(t, "POST", url, b, "["+toolCall(2)+","+toolCall(3)+"]"); resp.StatusCode != 400 || !strings.Contains(body, "-32600") {
		t.Errorf("batch: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "POST", url, b, toolCall(5)); resp.StatusCode != 200 {
		t.Errorf("caller B's second call after a refused batch: %d", resp.StatusCode)
	}
	advance(30 * time.Second)
	if resp, _ := do(t, "POST", url, a, toolCall(4)); resp.StatusCode != 200 {
		t.Errorf("after 30 s: %d", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "reason=\"rate limit\"") {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}
}

func TestRateLimiterSweep(t *testing.T) {
	l := newRateLimiter(10)
	t0 := time.Unix(0, 0)
	l.take("a", 1, t0)
	l.take("b", 1, t0.Add(90*time.Second))
	if _, ok := l.buckets["a"]; ok {
		t.Error("an idle, refilled bucket is kept")
	}
	if w := l.take("c", 11, t0); w != time.Minute {
		t.Errorf("more than the bucket holds: wait %s", w)
	}
}

func TestMaxConcurrent(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.WriteHeader(200)
	})
	g, ts, _ := newTestGate(t, Options{MaxConcurrent: 2}, slow)
	url := ts.URL + "/mcp"
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if resp, _ := do(t, "POST", url, nil, toolCall(i)); resp.StatusCode != 200 {
				t.Errorf("call %d: %d", i, resp.StatusCode)
			}
		})
	}
	<-started
	<-started
	if n := g.InFlight(); n != 2 {
		t.Errorf("in flight: %d", n)
	}
	resp, body := do(t, "POST", url, nil, toolCall(3))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "at most 2 tool calls at once") {
		t.Errorf("third call: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	close(release)
	wg.Wait()
	if n := g.InFlight(); n != 0 {
		t.Errorf("in flight after: %d", n)
	}
	if resp, _ := do(t, "POST", url, nil, toolCall(4)); resp.StatusCode != 200 {
		t.Errorf("after release: %d", resp.StatusCode)
	}
}

func TestDrainAndReady(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "done")
	})
	notReady := true
	var mu sync.Mutex
	g, ts, _ := newTestGate(t, Options{Ready: func() error {
		mu.Lock()
		defer mu.Unlock()
		if notReady {
			return io.ErrUnexpectedEOF
		}
		return nil
	}}, slow)
	if resp, body := do(t, "GET", ts.URL+"/readyz", nil, ""); resp.StatusCode != 503 || !strings.Contains(body, "unexpected EOF") {
		t.Errorf("not ready: %d %s", resp.StatusCode, body)
	}
	mu.Lock()
	notReady = false
	mu.Unlock()
	if resp, _ := do(t, "GET", ts.URL+"/readyz", nil, ""); resp.StatusCode != 200 {
		t.Errorf("ready: %d", resp.StatusCode)
	}
	done := make(chan string, 1)
	go func() {
		_, body := do(t, "POST", ts.URL+"/mcp", nil, toolCall(1))
		done <- body
	}()
	<-started
	g.Drain()
	if resp, body := do(t, "GET", ts.URL+"/readyz", nil, ""); resp.StatusCode != 503 || !strings.Contains(body, "draining") {
		t.Errorf("draining readyz: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", ts.URL+"/healthz", nil, ""); resp.StatusCode != 200 {
		t.Errorf("healthz while draining: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "POST", ts.URL+"/mcp", nil, toolCall(2)); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("new call while draining: %d", resp.StatusCode)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := g.Wait(short); err == nil {
		t.Error("Wait returned with a call in flight")
	}
	close(release)
	if err := g.Wait(context.Background()); err != nil {
		t.Error(err)
	}
	if body := <-done; body != "done" {
		t.Errorf("in-flight call: %q", body)
	}
}

func TestValidate(t *testing.T) {
	for _, o := range []Options{
		{AllowedOrigins: []string{"example.com"}},
		{AllowedOrigins: []string{"https://example.com/path"}},
		{AllowedOrigins: []string{"ftp://example.com"}},
		{AllowedHosts: []string{"*.example.com"}},
		{TokenHeader: "Bad Header"},
		{RateLimit: -1},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if err := (Options{AllowedOrigins: []string{"*", "http://localhost:3000"}, AllowedHosts: []string{"a.example:8080"}, TokenHeader: "X-MCP-Access-Token"}).Validate(); err != nil {
		t.Error(err)
	}
	for host, want := range map[string]bool{"localhost": true, "LOCALHOST:80": true, "127.0.0.1:8080": true, "127.9.9.9": true, "[::1]:3000": true, "::1": true, "app.localhost": true,
		"0.0.0.0:8080": false, "": false, "example.com": false, "10.0.0.1": false, "[::]:80": false, "localhost.example.com": false} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v", host, got)
		}
	}
}

func TestAnyOrigin(t *testing.T) {
	_, ts, _ := newTestGate(t, Options{AllowedOrigins: []string{"*"}}, nil)
	if resp, _ := do(t, "POST", ts.URL+"/mcp", map[string]string{"Origin": "https://anything.example"}, `{}`); resp.StatusCode != 200 {
		t.Errorf("*: %d", resp.StatusCode)
	}
}

func TestBindCallOutsideGate(t *testing.T) {
	ctx, cancel := BindCall(context.Background())
	if ctx.Err() != nil {
		t.Fatal("cancelled at once")
	}
	cancel()
	if ctx.Err() == nil {
		t.Fatal("cancel did nothing")
	}
}

func TestSlowBody(t *testing.T) {
	_, ts, _ := newTestGate(t, Options{BodyReadTimeout: 100 * time.Millisecond}, nil)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || time.Since(start) > 3*time.Second {
		t.Errorf("a body that never comes: %d after %s", resp.StatusCode, time.Since(start))
	}
}

func TestKeepAliveOnListeningStream(t *testing.T) {
	listen := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	_, ts, _ := newTestGate(t, Options{KeepAlive: 10 * time.Millisecond}, listen)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/mcp", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != ": keep-alive\n" {
		t.Errorf("first line %q, %v", line, err)
	}
}
