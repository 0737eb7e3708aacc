package nanogpt

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestErrParseAPIErrorEnvelopes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   APIError
	}{
		{"openai style", 400,
			`{"error":{"message":"Human-readable error message","type":"invalid_request_error","code":"missing_required_parameter","param":"model"}}`,
			APIError{Status: 400, Code: "missing_required_parameter", Type: "invalid_request_error", Message: "Human-readable error message", Param: "model"}},
		{"openai style, numeric code", 402,
			`{"error":{"message":"Insufficient balance","type":"insufficient_balance","code":402}}`,
			APIError{Status: 402, Code: "402", Type: "insufficient_balance", Message: "Insufficient balance"}},
		{"legacy string error", 402,
			`{"error":"Insufficient balance","requiredBalance":0.0035,"status":402}`,
			APIError{Status: 402, Message: "Insufficient balance"}},
		{"OAS numeric error", 402,
			`{"error":402,"message":"You need more credit"}`,
			APIError{Status: 402, Message: "You need more credit"}},
		{"top-level code", 429,
			`{"code":"rate_limited","message":"Rate limit exceeded"}`,
			APIError{Status: 429, Code: "rate_limited", Message: "Rate limit exceeded"}},
		{"openai style, message empty falls back to top-level", 500,
			`{"error":{"code":"all_fallbacks_failed"},"message":"every provider failed"}`,
			APIError{Status: 500, Code: "all_fallbacks_failed", Message: "every provider failed"}},
		{"HTML", 502,
			"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n",
			APIError{Status: 502, Message: "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"}},
		{"plain text", 503, "  upstream connect error  ", APIError{Status: 503, Message: "upstream connect error"}},
		{"empty", 500, "", APIError{Status: 500, Message: "Internal Server Error"}},
		{"empty object", 404, "{}", APIError{Status: 404, Message: "Not Found"}},
		{"object without known keys keeps the body", 400, `{"detail":"bad seed"}`, APIError{Status: 400, Message: `{"detail":"bad seed"}`}},
		{"error null", 418, `{"error":null,"message":"teapot"}`, APIError{Status: 418, Message: "teapot"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseAPIError(tc.status, http.Header{}, []byte(tc.body))
			if *got != tc.want {
				t.Errorf("parseAPIError =\n %+v\nwant\n %+v", *got, tc.want)
			}
		})
	}
}

func TestErrParseAPIErrorHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "17")
	h.Set("X-Request-ID", "req_abc123")
	e := parseAPIError(429, h, []byte(`{"error":{"message":"Daily request limit reached","type":"rate_limit_error","code":"daily_rpd_limit_exceeded"}}`))
	if e.RetryAfter != 17*time.Second || e.RequestID != "req_abc123" || e.Code != "daily_rpd_limit_exceeded" || e.Type != "rate_limit_error" {
		t.Errorf("APIError = %+v", e)
	}

	h = http.Header{}
	h.Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
	e = parseAPIError(503, h, nil)
	if e.RetryAfter < 80*time.Second || e.RetryAfter > 90*time.Second {
		t.Errorf("RetryAfter from an HTTP date 90s ahead = %v", e.RetryAfter)
	}
	if e.RequestID != "" {
		t.Errorf("RequestID = %q without the header", e.RequestID)
	}
}

func TestErrParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 8, 22, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"1.5", 1500 * time.Millisecond},
		{"-3", 0},
		{"86400", 24 * time.Hour},
		{"99999999999", 0}, // absurd: ignored rather than overflowing
		{"Sat, 22 Aug 2026 12:00:30 GMT", 30 * time.Second},
		{"Saturday, 22-Aug-26 12:01:00 GMT", time.Minute}, // RFC 850
		{"Sat Aug 22 12:00:10 2026", 10 * time.Second},    // ANSI C
		{"Sat, 22 Aug 2026 11:59:00 GMT", 0},              // in the past
		{"soon", 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestErrSnippetBoundsAndSanitizes(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes, 2 bytes per rune
	e := parseAPIError(500, http.Header{}, []byte("<p>"+long+"</p>"))
	if !utf8.ValidString(e.Message) {
		t.Errorf("message is not valid UTF-8 after cutting: %q", e.Message)
	}
	if !strings.HasSuffix(e.Message, "…") || len(e.Message) > 300+len("…") {
		t.Errorf("long body message has %d bytes, want at most 300 plus an ellipsis: %q", len(e.Message), e.Message)
	}
	e = parseAPIError(500, http.Header{}, []byte("bad \xff\xfe bytes"))
	if !utf8.ValidString(e.Message) || !strings.Contains(e.Message, "bad") {
		t.Errorf("invalid UTF-8 body gave %q", e.Message)
	}
}

func TestErrAPIErrorString(t *testing.T) {
	for _, tc := range []struct {
		e    APIError
		want string
	}{
		{APIError{Status: 402, Code: "insufficient_balance", Message: "Insufficient balance"}, "nanogpt: HTTP 402 (insufficient_balance): Insufficient balance"},
		{APIError{Status: 500, Message: "boom"}, "nanogpt: HTTP 500: boom"},
		{APIError{Code: "service_unavailable", Message: "mid-stream: x"}, "nanogpt: error (service_unavailable): mid-stream: x"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestErrClientRateLimitedWithRetryAfter(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "42")
		w.Header().Set("X-Request-ID", "req_429")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":{"message":"Rate limit exceeded","type":"rate_limit_error","code":"rate_limit_exceeded"}}`)
	})
	resp, err := c.Chat(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}})
	if resp != nil {
		t.Errorf("resp = %+v on an error", resp)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v (%T), want *APIError", err, err)
	}
	if apiErr.Status != 429 || apiErr.RetryAfter != 42*time.Second || apiErr.Code != "rate_limit_exceeded" ||
		apiErr.Type != "rate_limit_error" || apiErr.Message != "Rate limit exceeded" || apiErr.RequestID != "req_429" {
		t.Errorf("APIError = %+v", apiErr)
	}
}

func TestErrClientWrongKeyIs401(t *testing.T) {
	fake, _ := chatFake(t)
	fake.Handle("POST "+chatPath, chatOK)
	for name, c := range map[string]*Client{
		"wrong key": New(Config{BaseURL: fake.URL, APIKey: "sk-nano-wrong"}),
		"no key":    New(Config{BaseURL: fake.URL}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Chat(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}})
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || apiErr.Code != "invalid_api_key" || apiErr.Type != "authentication_error" {
				t.Errorf("err = %v (%+v), want *APIError 401 invalid_api_key", err, apiErr)
			}
			if strings.Contains(err.Error(), "sk-nano-wrong") {
				t.Errorf("error text leaks the key: %v", err)
			}
		})
	}
}

func TestErrClientNonJSONSuccessIsInvalidResponse(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-Request-ID", "req_html")
		_, _ = io.WriteString(w, "<html><body>Cloudflare says hi</body></html>")
	})
	_, err := c.Chat(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}})
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v (%T), want *APIError", err, err)
	}
	if apiErr.Code != "invalid_response" || apiErr.Status != 200 || apiErr.RequestID != "req_html" || !strings.Contains(apiErr.Message, "Cloudflare says hi") {
		t.Errorf("APIError = %+v", apiErr)
	}
}

func TestErrClientHugeErrorBodyIsCapped(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		for range 1024 { // 16 MiB of HTML
			_, _ = io.WriteString(w, strings.Repeat("<div>", 16<<10/5))
		}
	})
	_, err := c.Chat(context.Background(), ChatRequest{Model: "m"})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 502 {
		t.Fatalf("err = %v, want *APIError 502", err)
	}
	if len(apiErr.Message) > 400 {
		t.Errorf("message is %d bytes, want a short snippet", len(apiErr.Message))
	}
}

func TestErrClientConnectionFailureIsTransportError(t *testing.T) {
	fake, _ := chatFake(t)
	url := fake.URL
	fake.Close()
	c := New(Config{BaseURL: url, APIKey: chatKey})
	_, err := c.Chat(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}})
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want *TransportError", err, err)
	}
	if te.Op != "POST "+chatPath || te.Unwrap() == nil {
		t.Errorf("TransportError = %+v", te)
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		t.Errorf("a connection failure is also an *APIError: %+v", apiErr)
	}
	if _, err := c.ChatStream(context.Background(), ChatRequest{Model: "m"}, nil); !errors.As(err, &te) {
		t.Errorf("ChatStream: err = %v (%T), want *TransportError", err, err)
	}

	// A cancelled context is reported as cancellation, not as a transport failure.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Chat(ctx, ChatRequest{Model: "m"})
	if !errors.Is(err, context.Canceled) || errors.As(err, &te) {
		t.Errorf("cancelled: err = %v (%T), want context.Canceled and no *TransportError", err, err)
	}
}
