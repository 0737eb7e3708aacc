package nanogpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

const chatSecret = "sk-nano-9d3f27aa-0c1b-4e0e-b5d5-redactme0001"

// chatSecretParts are pieces of the key that must not appear either.
var chatSecretParts = []string{chatSecret, "9d3f27aa", "redactme0001"}

func chatAssertNoKey(t *testing.T, what, out string) {
	t.Helper()
	for _, p := range chatSecretParts {
		if strings.Contains(out, p) {
			t.Errorf("%s leaks the key (%q): %s", what, p, out)
			return
		}
	}
}

func TestClientConfigAndClientNeverPrintTheKey(t *testing.T) {
	cfg := Config{BaseURL: "https://nano-gpt.com", APIKey: chatSecret, Timeout: 30 * time.Second, HTTP: http.DefaultClient, UserAgent: "ua"}
	c := New(cfg)
	k := c.WithKey(chatSecret)
	wrapped := struct {
		Cfg    Config
		Client *Client
	}{cfg, c}
	values := map[string]any{"Config": cfg, "*Config": &cfg, "*Client": c, "WithKey copy": k, "struct with both": wrapped, "slice": []any{cfg, c}}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, v)
			chatAssertNoKey(t, name+" "+verb, out)
			if verb == "%x" {
				continue
			}
			if name != "struct with both" && name != "slice" && !strings.Contains(out, "redacted") {
				t.Errorf("%s %s = %s, want it to say the key is set (redacted)", name, verb, out)
			}
		}
	}
	// Without a key it says unset, so operators can tell the two apart.
	if out := fmt.Sprint(Config{}); !strings.Contains(out, "APIKey:unset") {
		t.Errorf("Config{} = %s, want APIKey:unset", out)
	}
	if out := fmt.Sprint(New(Config{})); !strings.Contains(out, "key:unset") {
		t.Errorf("New(Config{}) = %s, want key:unset", out)
	}
	if out := fmt.Sprint(cfg); !strings.Contains(out, "https://nano-gpt.com") || !strings.Contains(out, "30s") {
		t.Errorf("Config String lost the useful fields: %s", out)
	}
}

func TestClientSlogNeverLogsTheKey(t *testing.T) {
	cfg := Config{BaseURL: "https://nano-gpt.com", APIKey: chatSecret, Timeout: time.Minute}
	c := New(cfg)
	for name, mk := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
		},
		"json": func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
		},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(mk(&buf))
			log.Info("config", "cfg", cfg, "cfgptr", &cfg, "client", c)
			log.Info("attrs", slog.Any("cfg", cfg), slog.Any("client", c), slog.Group("g", slog.Any("cfg", cfg)))
			log.With("client", c, "cfg", cfg).Debug("with")
			log.LogAttrs(context.Background(), slog.LevelWarn, "attrs", slog.Any("client", c.WithKey(chatSecret)))
			out := buf.String()
			chatAssertNoKey(t, name+" handler", out)
			if strings.Count(out, "\n") != 4 {
				t.Errorf("want 4 log lines, got:\n%s", out)
			}
			if !strings.Contains(out, "redacted") || !strings.Contains(out, "nano-gpt.com") {
				t.Errorf("log output lost the redaction marker or base URL:\n%s", out)
			}
		})
	}
}

func TestClientDefaultsAndHeaders(t *testing.T) {
	fake, _ := chatFake(t)
	fake.Handle("POST "+chatPath, chatOK)

	// A trailing slash on the base URL must not produce "//api/...".
	c := New(Config{BaseURL: fake.URL + "/", APIKey: chatKey, UserAgent: "custom-agent/1.0"})
	if _, err := c.Chat(context.Background(), ChatRequest{Model: "m"}); err != nil {
		t.Fatalf("Chat with trailing-slash base: %v", err)
	}
	r := chatLast(t, fake)
	if got := r.Header.Get("User-Agent"); got != "custom-agent/1.0" {
		t.Errorf("User-Agent = %q, want custom-agent/1.0", got)
	}
	if New(Config{}).base != DefaultBaseURL {
		t.Errorf("default base = %q, want %q", New(Config{}).base, DefaultBaseURL)
	}

	// Without a key no auth header is sent at all (not an empty "Bearer ").
	if _, err := New(Config{BaseURL: fake.URL}).Chat(context.Background(), ChatRequest{Model: "m"}); err == nil {
		t.Error("keyless call succeeded against a fake that needs a key")
	}
	r = chatLast(t, fake)
	if _, ok := r.Header["Authorization"]; ok {
		t.Errorf("Authorization sent without a key: %q", r.Header.Get("Authorization"))
	}
	if _, ok := r.Header["X-Api-Key"]; ok {
		t.Errorf("x-api-key sent without a key: %q", r.Header.Get("X-Api-Key"))
	}
}

func TestClientWithKeyCopies(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, chatOK)
	other := c.WithKey("sk-nano-other")
	if !c.HasKey() || !other.HasKey() || New(Config{}).HasKey() || c.WithKey("").HasKey() {
		t.Error("HasKey wrong")
	}
	if _, err := other.Chat(context.Background(), ChatRequest{Model: "m"}); err == nil {
		t.Error("copy with another key was accepted; it should have sent sk-nano-other")
	}
	if r := chatLast(t, fake); r.Header.Get("Authorization") != "Bearer sk-nano-other" || r.Header.Get("X-Api-Key") != "sk-nano-other" {
		t.Errorf("copy sent %q / %q", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
	}
	if _, err := c.Chat(context.Background(), ChatRequest{Model: "m"}); err != nil {
		t.Errorf("original client changed by WithKey: %v", err)
	}
}

// chatRecordingDoer is a Doer that records requests and answers with a fixed completion.
type chatRecordingDoer struct{ reqs []*http.Request }

func (d *chatRecordingDoer) Do(r *http.Request) (*http.Response, error) {
	d.reqs = append(d.reqs, r)
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: http.NoBody, Request: r}, nil
}

func TestClientUsesInjectedDoer(t *testing.T) {
	d := &chatRecordingDoer{}
	c := New(Config{BaseURL: "https://example.invalid/", APIKey: chatKey, HTTP: d})
	_, err := c.Chat(context.Background(), ChatRequest{Model: "m"})
	if len(d.reqs) != 1 || d.reqs[0].URL.String() != "https://example.invalid/api/v1/chat/completions" {
		t.Fatalf("Doer saw %d requests (%v)", len(d.reqs), d.reqs)
	}
	// An empty 200 body is not a chat completion.
	if err == nil || !strings.Contains(err.Error(), "invalid_response") {
		t.Errorf("empty 200 body: err = %v, want invalid_response", err)
	}
}

// An upstream that redirects to another origin does not get the key sent
// there: neither header, nor the body again (issue 11, attack 4).
func TestRedirectToAnotherOriginCarriesNoKey(t *testing.T) {
	var got []http.Header
	var gotBody [][]byte
	var mu sync.Mutex
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, gotBody = append(got, r.Header.Clone()), append(gotBody, b)
		mu.Unlock()
		nanogpttest.JSON(w, nanogpttest.ChatCompletion("m", "stolen"))
	}))
	defer other.Close()
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, code)
		}))
		c := New(Config{BaseURL: home.URL, APIKey: "sk-nano-secret-redirected"})
		_, err := c.Chat(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}})
		home.Close()
		var ae *APIError
		if !errors.As(err, &ae) || ae.Code != "redirect_refused" || !strings.Contains(ae.Message, "not followed") {
			t.Errorf("%d: err = %v, want a redirect_refused error", code, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) > 0 {
		t.Errorf("the other origin received %d request(s) (headers %v)", len(got), got[0])
	}
}

// A redirect within NanoGPT's own origin is followed.
func TestRedirectWithinTheOriginIsFollowed(t *testing.T) {
	fake := nanogpttest.New("k")
	defer fake.Close()
	fake.Handle("POST /api/v1/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/api/check-balance", http.StatusTemporaryRedirect)
	})
	fake.Handle("POST /api/check-balance", func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.JSON(w, map[string]any{"usd_balance": "1"})
	})
	c := New(Config{BaseURL: fake.URL, APIKey: "k"})
	var out map[string]any
	if err := c.postJSON(context.Background(), "/api/v1/old", struct{}{}, &out); err != nil || out["usd_balance"] != "1" {
		t.Errorf("same-origin redirect: %v %v", err, out)
	}
}

// NanoGPT's (or a proxy's) echo of the key never leaves the client in an
// error: message, code, parameter, a non-JSON body (issue 11, attack 3).
func TestErrorsNeverCarryTheKey(t *testing.T) {
	const key = "sk-nano-echoed-0123456789"
	for _, body := range []string{
		`{"error":{"message":"bad key ` + key + `","code":"` + key + `","param":"` + key + `","type":"` + key + `"}}`,
		`<html>proxy says: Authorization: Bearer ` + key + `</html>`,
		`{"error":"Insufficient balance for ` + key + `"}`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-ID", key)
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, body)
		}))
		c := New(Config{BaseURL: srv.URL, APIKey: key})
		_, err := c.Chat(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}})
		srv.Close()
		var ae *APIError
		if err == nil || strings.Contains(err.Error(), key) || !errors.As(err, &ae) || strings.Contains(fmt.Sprintf("%+v", *ae), key) {
			t.Errorf("the key leaked: %v / %+v", err, ae)
		}
	}
}

func TestPartsReaderReadsAndWritesEveryPart(t *testing.T) {
	parts := [][]byte{[]byte("ab"), nil, []byte("cde"), []byte("f")}
	var w bytes.Buffer
	if n, err := io.Copy(&w, partsReader(parts)); err != nil || n != 6 || w.String() != "abcdef" {
		t.Fatalf("WriteTo: %d %v %q", n, err, w.String())
	}
	got, err := io.ReadAll(io.LimitReader(partsReader(parts), 100)) // Read, through a reader without WriteTo
	if err != nil || string(got) != "abcdef" {
		t.Fatalf("Read: %v %q", err, got)
	}
	if string(parts[0]) != "ab" || string(parts[2]) != "cde" {
		t.Fatalf("the parts were changed: %q", parts)
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = io.Copy(io.Discard, partsReader(parts)) }); allocs > 3 {
		t.Errorf("%v allocations per body, want at most 3 (no copy buffer)", allocs)
	}
}
