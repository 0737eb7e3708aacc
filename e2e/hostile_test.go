package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// The HTTP front door against hostile callers: one row per attack (issue 11)
// and the older ones (tokens, Origin, Host, sizes). Each runs against the
// built binary on loopback, with a fake NanoGPT; each fails when its defence
// is missing.

type front struct {
	t    *testing.T
	url  string
	fake *nanogpttest.Docs

	mu       sync.Mutex
	sessions map[string]string // token → a session of it, for calls
}

func startFront(t *testing.T, args ...string) *front {
	t.Helper()
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	base := startHTTP(t, []string{"NANOGPT_API_KEY=" + serverKey, "NANOGPT_BASE_URL=" + fake.URL,
		"NANOGPT_MCP_AUTH_TOKENS=" + hostToken + "," + hostToken2}, args...)
	return &front{t: t, url: base, fake: fake}
}

// call posts body in a session of token (opened the first time).
func (f *front) call(token, body string, headers ...string) (*http.Response, string) {
	f.mu.Lock()
	if f.sessions == nil {
		f.sessions = map[string]string{}
	}
	id, ok := f.sessions[token]
	f.mu.Unlock()
	if !ok {
		id = f.session(token)
		f.mu.Lock()
		f.sessions[token] = id
		f.mu.Unlock()
	}
	return f.post(token, body, append(headers, "Mcp-Session-Id", id)...)
}

// post sends body to /mcp with token (none when ""), and more headers.
func (f *front) post(token, body string, headers ...string) (*http.Response, string) {
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return rawPost(f.t, f.url+"/mcp", h, body)
}

// session opens a streamable HTTP session with token and returns its id.
func (f *front) session(token string) string {
	f.t.Helper()
	resp, body := f.post(token, initBody)
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || id == "" {
		f.t.Fatalf("initialize: %d %s", resp.StatusCode, body)
	}
	f.post(token, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "Mcp-Session-Id", id)
	return id
}

func askCall(id any, prompt string) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
		"params": map[string]any{"name": "ask", "arguments": map[string]any{"model": "m", "userPrompt": prompt}}})
	return string(b)
}

// rawConn sends raw bytes to the server and reports what came back and
// whether the server closed the connection within wait.
func (f *front) rawConn(raw string, wait time.Duration) (reply string, closed bool) {
	u, _ := url.Parse(f.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		f.t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, raw)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(conn)
	return string(b), err == nil // EOF before the deadline: closed by the server
}

func TestHostileInputs(t *testing.T) {
	rows := []struct {
		name   string
		args   []string
		attack func(t *testing.T, f *front)
	}{
		{"no access token", nil, func(t *testing.T, f *front) {
			if resp, _ := f.post("", initBody); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}},
		{"wrong access token", nil, func(t *testing.T, f *front) {
			if resp, _ := f.post("access-token-wrong-wrong-wrong", initBody); resp.StatusCode != 401 {
				t.Errorf("%d", resp.StatusCode)
			}
		}},
		{"foreign Origin", nil, func(t *testing.T, f *front) {
			if resp, _ := f.post(hostToken, initBody, "Origin", "https://evil.example"); resp.StatusCode != 403 {
				t.Errorf("%d", resp.StatusCode)
			}
		}},
		{"DNS rebinding (Host)", nil, func(t *testing.T, f *front) {
			if resp, _ := f.post(hostToken, initBody, "Host", "evil.example"); resp.StatusCode != 403 {
				t.Errorf("%d", resp.StatusCode)
			}
		}},
		{"body over --max-body", []string{"--max-body", "64KiB"}, func(t *testing.T, f *front) {
			if resp, _ := f.call(hostToken, askCall(1, strings.Repeat("x", 70<<10))); resp.StatusCode != 413 {
				t.Errorf("%d", resp.StatusCode)
			}
		}},
		// 1: a request refused before its body is read closes its connection
		// at once, and no connection is held longer than --read-timeout.
		{"unauthenticated trickled body", []string{"--read-timeout", "2s"}, func(t *testing.T, f *front) {
			start := time.Now()
			reply, closed := f.rawConn("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{", 5*time.Second)
			if !strings.HasPrefix(reply, "HTTP/1.1 401") || !closed || time.Since(start) > time.Second {
				t.Errorf("reply %.40q, closed %v after %s", reply, closed, time.Since(start))
			}
		}},
		{"authenticated trickled body", []string{"--read-timeout", "2s"}, func(t *testing.T, f *front) {
			start := time.Now()
			_, closed := f.rawConn("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+hostToken+
				"\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{", 6*time.Second)
			if !closed || time.Since(start) > 4*time.Second {
				t.Errorf("closed %v after %s, want cut off after about 2s", closed, time.Since(start))
			}
		}},
		{"headers that never end", []string{"--read-header-timeout", "1s"}, func(t *testing.T, f *front) {
			start := time.Now()
			if _, closed := f.rawConn("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", 4*time.Second); !closed || time.Since(start) > 3*time.Second {
				t.Errorf("closed %v after %s", closed, time.Since(start))
			}
		}},
		// 2: an id that is neither a string nor an integer is refused before
		// anything runs, and costs nothing of the limits.
		{"ids of other types", []string{"--rate-limit", "2"}, func(t *testing.T, f *front) { // the session's initialize takes one
			for _, id := range []string{`true`, `{}`, `[]`, `null`, `1.5`} {
				body := strings.Replace(askCall(0, "x"), `"id":0`, `"id":`+id, 1)
				for range 5 {
					if resp, b := f.call(hostToken, body); resp.StatusCode != 400 || !strings.Contains(b, "-32600") {
						t.Errorf("id %s: %d %s", id, resp.StatusCode, b)
					}
				}
			}
			if resp, b := f.call(hostToken, "["+askCall(1, "a")+","+askCall(2, "b")+"]"); resp.StatusCode != 400 {
				t.Errorf("batch: %d %s", resp.StatusCode, b)
			}
			if got := len(f.fake.Requests()); got != 0 {
				t.Errorf("%d request(s) reached NanoGPT", got)
			}
			if resp, b := f.call(hostToken, askCall(9, "still within the limit")); resp.StatusCode != 200 {
				t.Errorf("a valid call after the refused ones: %d %s", resp.StatusCode, b)
			}
		}},
		// A call run as a task is answered at once, but runs on: it keeps its
		// place in --max-concurrent until it ends, or tasks would escape the limit.
		{"tasks count in the limits", []string{"--max-concurrent", "1", "--poll-interval", "50ms"}, func(t *testing.T, f *front) {
			f.fake.Set(func(d *nanogpttest.Docs) { d.Polls = 1000 }) // a video that takes a while
			task := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"createVideo","arguments":{"model":"veo2-video","prompt":"waves"},"task":{"ttl":60000}}}`
			if resp, b := f.call(hostToken, task); resp.StatusCode != 200 || !strings.Contains(b, `"taskId"`) {
				t.Fatalf("the task: %d %.300s", resp.StatusCode, b)
			}
			if resp, b := f.call(hostToken, askCall(4, "while the task runs")); resp.StatusCode != 429 {
				t.Errorf("a call while the caller's task holds the one place: %d %.300s", resp.StatusCode, b)
			}
		}},
		// 3: whatever NanoGPT echoes of the server's key, no caller sees it.
		{"the upstream echoes the key", nil, func(t *testing.T, f *front) {
			f.fake.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
				nanogpttest.Error(w, 400, `{"error":{"message":"bad key `+serverKey+`","code":"`+serverKey+`","param":"`+serverKey+`"}}`)
			})
			if _, b := f.call(hostToken, askCall(1, "x")); strings.Contains(b, serverKey) || !strings.Contains(b, "redacted") {
				t.Errorf("the answer carries the key: %s", b)
			}
		}},
		// 6: sessions are capped per caller and in all; initialize is rate limited.
		{"session flood", []string{"--max-sessions-per-caller", "3", "--max-sessions", "5"}, func(t *testing.T, f *front) {
			for range 3 {
				f.session(hostToken)
			}
			if resp, b := f.post(hostToken, initBody); resp.StatusCode != 429 || !strings.Contains(b, "sessions") {
				t.Errorf("a 4th session of one caller: %d %s", resp.StatusCode, b)
			}
			f.session(hostToken2)
			f.session(hostToken2)
			if resp, b := f.post(hostToken2, initBody); resp.StatusCode != 503 {
				t.Errorf("a 6th session in all: %d %s", resp.StatusCode, b)
			}
		}},
		{"initialize is rate limited", []string{"--rate-limit", "2"}, func(t *testing.T, f *front) {
			f.session(hostToken)
			f.session(hostToken)
			if resp, _ := f.post(hostToken, initBody); resp.StatusCode != 429 {
				t.Errorf("a 3rd initialize: %d", resp.StatusCode)
			}
		}},
		// 7: a session belongs to the caller that made it; unknown and
		// deleted ids are 404.
		{"sessions of another caller", nil, func(t *testing.T, f *front) {
			a := f.session(hostToken)
			if resp, b := f.post(hostToken2, askCall(1, "x"), "Mcp-Session-Id", a); resp.StatusCode != 404 {
				t.Errorf("B calls in A's session: %d %s", resp.StatusCode, b)
			}
			req, _ := http.NewRequest("GET", f.url+"/mcp", nil)
			req.Header.Set("Authorization", "Bearer "+hostToken2)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Mcp-Session-Id", a)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 404 {
				t.Errorf("B opens A's GET stream: %v %v", err, resp)
			} else {
				resp.Body.Close()
			}
			if resp, b := f.post(hostToken, askCall(2, "x"), "Mcp-Session-Id", "mcp-session-"+strings.Repeat("0", 32)); resp.StatusCode != 404 {
				t.Errorf("a never-issued id: %d %s", resp.StatusCode, b)
			}
			del, _ := http.NewRequest("DELETE", f.url+"/mcp", nil)
			del.Header.Set("Authorization", "Bearer "+hostToken2)
			del.Header.Set("Mcp-Session-Id", a)
			if resp, err := http.DefaultClient.Do(del); err != nil || resp.StatusCode != 404 {
				t.Errorf("B deletes A's session: %v %v", err, resp)
			}
			del.Header.Set("Authorization", "Bearer "+hostToken)
			if resp, err := http.DefaultClient.Do(del); err != nil || resp.StatusCode != 200 {
				t.Errorf("A deletes its session: %v %v", err, resp)
			}
			if resp, b := f.post(hostToken, askCall(3, "x"), "Mcp-Session-Id", a); resp.StatusCode != 404 {
				t.Errorf("a deleted session: %d %s", resp.StatusCode, b)
			}
		}},
		{"cancelling another caller's call", nil, func(t *testing.T, f *front) {
			arrived, release := holdChat(f.fake)
			defer release()
			a := f.session(hostToken)
			done := make(chan string, 1)
			go func() { _, b := f.post(hostToken, askCall(7, "hold on"), "Mcp-Session-Id", a); done <- b }()
			<-arrived
			b := f.session(hostToken2)
			f.post(hostToken2, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`, "Mcp-Session-Id", b)
			f.post(hostToken2, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`, "Mcp-Session-Id", a)
			time.Sleep(200 * time.Millisecond)
			release()
			if got := <-done; !strings.Contains(got, `"answer":"4"`) {
				t.Errorf("A's call was cancelled by B: %s", got)
			}
		}},
		// 8: the bytes of the bodies held at once are bounded.
		{"many large bodies at once", []string{"--max-bodies", "1MiB", "--max-body", "900KiB"}, func(t *testing.T, f *front) {
			u, _ := url.Parse(f.url)
			conn, err := net.Dial("tcp", u.Host) // holds 800 KiB of the budget while it trickles
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", hostToken, 800<<10)
			time.Sleep(200 * time.Millisecond)
			resp, b := f.call(hostToken, askCall(1, strings.Repeat("y", 400<<10)))
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
				t.Errorf("a body beyond the budget: %d %s", resp.StatusCode, b)
			}
			conn.Close()
			time.Sleep(200 * time.Millisecond)
			if resp, b := f.call(hostToken, askCall(2, strings.Repeat("y", 400<<10))); resp.StatusCode != 200 {
				t.Errorf("once the budget is back: %d %.200s", resp.StatusCode, b)
			}
		}},
		// 9: IPv4 inside IPv6 reaches no loopback or private address.
		{"embedded IPv4 addresses", nil, func(t *testing.T, f *front) {
			for _, host := range []string{"[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::127.0.0.1]", "255.255.255.255"} {
				body := strings.Replace(askCall(1, "look"), `"userPrompt":"look"`, `"userPrompt":"look","attachments":[{"url":"https://`+host+`/notes.txt"}]`, 1)
				if _, b := f.call(hostToken, body); !strings.Contains(b, "which this server does not fetch") {
					t.Errorf("%s: %.300s", host, b)
				}
			}
		}},
		// 5 and 10: a hosted server reads no local file, and tells remote
		// callers neither its folders nor where its NanoGPT is.
		{"local files and what errors tell", []string{"--base-url", "http://127.0.0.1:9"}, func(t *testing.T, f *front) {
			body := strings.Replace(askCall(1, "read"), `"userPrompt":"read"`, `"userPrompt":"read","attachments":[{"url":"/proc/self/environ"}]`, 1)
			if _, b := f.call(hostToken, body); !strings.Contains(b, "local files cannot be read") || strings.Contains(b, serverKey) {
				t.Errorf("a local file: %.300s", b)
			}
			if _, b := f.call(hostToken, askCall(2, "x")); strings.Contains(b, "127.0.0.1:9") || !strings.Contains(b, "could not reach NanoGPT") {
				t.Errorf("NanoGPT unreachable: %.300s", b)
			}
		}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			row.attack(t, startFront(t, row.args...))
		})
	}
}

// A redirect from NanoGPT's host to another never carries the key (4).
func TestHostileRedirect(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization")+r.Header.Get("X-Api-Key"))
		mu.Unlock()
	}))
	defer thief.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, thief.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	base := startHTTP(t, []string{"NANOGPT_API_KEY=" + serverKey, "NANOGPT_BASE_URL=" + redirector.URL, "NANOGPT_MCP_AUTH_TOKENS=" + hostToken})
	f := &front{t: t, url: base}
	if _, b := f.call(hostToken, askCall(1, "x")); !strings.Contains(b, "redirect") {
		t.Errorf("%.300s", b)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if strings.Contains(s, serverKey) {
			t.Error("the other host received the key")
		}
	}
}
