// Package nanogpt is a small HTTP client for the NanoGPT API (https://nano-gpt.com).
//
// It knows NanoGPT's wire formats and nothing about MCP: typed requests and
// responses, both auth headers on every call, streaming, and a typed APIError.
package nanogpt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/capped"
)

// DefaultBaseURL is NanoGPT's public host. Paths such as /api/v1/chat/completions
// are appended to it.
const DefaultBaseURL = "https://nano-gpt.com"

// maxJSONBody caps a decoded JSON response body (base64 images make these large).
const maxJSONBody = 256 << 20

// Doer sends an HTTP request. *http.Client satisfies it; tests inject fakes.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Config configures a Client. Printing or logging a Config never shows the key.
type Config struct {
	BaseURL   string        // default DefaultBaseURL
	APIKey    string        // sent as Authorization: Bearer and x-api-key
	HTTP      Doer          // default: an *http.Client without an overall timeout, keeping up to 64 idle connections
	Timeout   time.Duration // per call; 0 means no limit beyond the caller's context
	UserAgent string        // default "nanogpt-mcp"
	Retry     RetryPolicy   // repeats of transient failures; the zero policy never retries
}

// String describes the config without its key.
func (c Config) String() string {
	return fmt.Sprintf("nanogpt.Config{BaseURL:%q APIKey:%s Timeout:%s}", c.BaseURL, redact(c.APIKey), c.Timeout)
}

// GoString is used by %#v; it hides the key too.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the key out of slog output.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.BaseURL), slog.String("api_key", redact(c.APIKey)), slog.Duration("timeout", c.Timeout))
}

func redact(key string) string {
	if key == "" {
		return "unset"
	}
	return "set(redacted)"
}

// Client calls NanoGPT. It is safe for concurrent use.
type Client struct {
	base      string
	key       string
	http      Doer
	timeout   time.Duration
	userAgent string
	retry     RetryPolicy
}

// New builds a Client from cfg, filling in defaults.
func New(cfg Config) *Client {
	c := &Client{
		base:      strings.TrimRight(cfg.BaseURL, "/"),
		key:       cfg.APIKey,
		http:      cfg.HTTP,
		timeout:   cfg.Timeout,
		userAgent: cfg.UserAgent,
		retry:     cfg.Retry,
	}
	if c.base == "" {
		c.base = DefaultBaseURL
	}
	if c.http == nil {
		// Calls to the one host run concurrently: keep their connections for
		// reuse (net/http keeps 2 per host) rather than open one per call.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		c.http = &http.Client{Transport: t, CheckRedirect: keepKeyHome}
	}
	if c.userAgent == "" {
		c.userAgent = "nanogpt-mcp"
	}
	return c
}

// WithKey returns a copy of c that authenticates with key (per-caller keys when hosted).
func (c *Client) WithKey(key string) *Client {
	cp := *c
	cp.key = key
	return &cp
}

// HasKey reports whether the client has an API key to send.
func (c *Client) HasKey() bool { return c.key != "" }

// String describes the client without its key.
func (c Client) String() string {
	return fmt.Sprintf("nanogpt.Client{base:%q key:%s}", c.base, redact(c.key))
}

// GoString hides the key from %#v.
func (c Client) GoString() string { return c.String() }

// withTimeout bounds one call by the client's timeout.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// newRequest builds a request to path (which starts with /api/) with both auth headers.
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("nanogpt: build %s %s: %w", method, path, err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
		req.Header.Set("x-api-key", c.key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

// send performs req, repeating it as the retry policy allows (see RetryPolicy).
// A non-2xx answer is read and returned as *APIError; a 2xx answer is returned
// for the caller to read and close.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.sendOnce(req)
	if err == nil || c.retry.Retries <= 0 || req.Context().Value(noRetryKey{}) != nil ||
		(req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, err
	}
	ctx := req.Context()
	for n := 1; n <= c.retry.Retries; n++ {
		reason, ok := retryable(req, err)
		if !ok {
			return nil, err
		}
		wait, ok := c.retry.retryWait(ctx, n, err)
		if !ok {
			return nil, err
		}
		if fn := retryObserver(ctx); fn != nil {
			fn(Retry{Attempt: n + 1, Of: c.retry.Retries + 1, Wait: wait, Reason: reason, Err: err})
		}
		if !sleepCtx(ctx, wait) {
			return nil, fmt.Errorf("nanogpt: %s %s: waiting to retry after %s: %w", req.Method, req.URL.Path, reason, ctx.Err())
		}
		again := req.Clone(ctx)
		if req.GetBody != nil {
			if again.Body, err = req.GetBody(); err != nil {
				return nil, fmt.Errorf("nanogpt: %s %s: rewind body: %w", req.Method, req.URL.Path, err)
			}
		}
		if resp, err = c.sendOnce(again); err == nil {
			return resp, nil
		}
	}
	return nil, err
}

// keepKeyHome refuses a redirect that would carry the key to another origin
// (scheme, host and port): Go drops Authorization on such a redirect but keeps
// x-api-key, and sends the body again. Requests without a key (downloads of
// NanoGPT's storage URLs) follow redirects anywhere.
func keepKeyHome(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0]
	if first.Header.Get("x-api-key") == "" && first.Header.Get("Authorization") == "" {
		return nil
	}
	if !strings.EqualFold(req.URL.Scheme, first.URL.Scheme) || !strings.EqualFold(canonicalHost(req.URL), canonicalHost(first.URL)) {
		return &redirectError{to: redactURL(req.URL.String())}
	}
	return nil
}

// canonicalHost is a URL's host:port, with the scheme's default port.
func canonicalHost(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Hostname() + ":443"
	}
	return u.Hostname() + ":80"
}

// redirectError is a redirect the client refused to follow.
type redirectError struct{ to string }

func (e *redirectError) Error() string { return "redirect to another origin (" + e.to + ") refused" }

// sendOnce performs req once.
func (c *Client) sendOnce(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	var re *redirectError
	if errors.As(err, &re) {
		return nil, &APIError{Status: http.StatusTemporaryRedirect, Code: "redirect_refused",
			Message: "NanoGPT answered " + req.Method + " " + req.URL.Path + " with a redirect to another host, " + re.to +
				"; it was not followed, so that the API key does not go with it (check NANOGPT_BASE_URL)"}
	}
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, fmt.Errorf("nanogpt: %s %s: %w", req.Method, req.URL.Path, ctxErr)
		}
		return nil, &TransportError{Op: req.Method + " " + req.URL.Path, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		body, _ := capped.Read(resp.Body, resp.ContentLength, maxErrorBody)
		return nil, parseAPIError(resp.StatusCode, resp.Header, body)
	}
	return resp, nil
}

// postJSON sends in as JSON to path and decodes a 2xx JSON answer into out.
func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("nanogpt: encode %s: %w", path, err)
	}
	_, err = c.call(ctx, http.MethodPost, path, [][]byte{body}, "application/json", out)
	return err
}

// decodeJSON decodes a success body, reporting a non-JSON body as an upstream error.
func decodeJSON(resp *http.Response, path string, out any) error {
	data, err := capped.Read(resp.Body, resp.ContentLength, maxJSONBody)
	if err != nil {
		return &TransportError{Op: "read " + path, Err: err}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &APIError{Status: resp.StatusCode, Code: CodeInvalidResponse,
			Message:   fmt.Sprintf("NanoGPT answered %s with a body that is not the expected JSON (%s): %s", path, jsonProblem(err), snippet(data)),
			RequestID: resp.Header.Get("X-Request-ID")}
	}
	return nil
}

// TransportError is a failure to reach NanoGPT or to read its answer.
type TransportError struct {
	Op  string
	Err error
}

func (e *TransportError) Error() string { return "nanogpt: " + e.Op + ": " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// call sends one request to path, bounded by the client timeout, and decodes a 2xx
// JSON answer into out. It returns the HTTP status of the answer. The body is
// the concatenation of its parts, sent without joining them (an upload is not
// copied into the body), and sent again from them on a retry.
func (c *Client) call(ctx context.Context, method, path string, body [][]byte, contentType string, out any) (int, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var rd io.Reader
	size := 0
	if body != nil {
		rd = partsReader(body)
		for _, p := range body {
			size += len(p)
		}
	}
	req, err := c.newRequest(ctx, method, path, rd, contentType)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.ContentLength = int64(size)
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(partsReader(body)), nil }
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.send(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, decodeJSON(resp, path, out)
}

// partsReader reads parts one after the other. Unlike io.MultiReader, whose
// WriteTo allocates a 32 KiB buffer for every request body, it writes each
// part as it is.
func partsReader(parts [][]byte) io.Reader {
	if len(parts) == 1 {
		return bytes.NewReader(parts[0])
	}
	return &partList{parts: slices.Clone(parts)}
}

type partList struct{ parts [][]byte }

func (m *partList) Read(b []byte) (int, error) {
	for len(m.parts) > 0 && len(m.parts[0]) == 0 {
		m.parts = m.parts[1:]
	}
	if len(m.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, m.parts[0])
	m.parts[0] = m.parts[0][n:]
	return n, nil
}

func (m *partList) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for len(m.parts) > 0 {
		n, err := w.Write(m.parts[0])
		total += int64(n)
		m.parts[0] = m.parts[0][n:]
		if err != nil {
			return total, err
		}
		m.parts = m.parts[1:]
	}
	return total, nil
}

// maxDownload is Download's cap when the caller gives none.
const maxDownload = 64 << 20

// Download fetches rawURL (NanoGPT's storage URL for a generated file) WITHOUT any auth
// header, up to limit bytes (limit <= 0 means 64 MiB); a larger body is an error. It
// returns the body and its Content-Type. A non-2xx answer is an *APIError. The
// request is bounded by the client timeout.
//
// Download does not filter destinations: callers fetching URLs that did not come
// from NanoGPT must vet them first.
func (c *Client) Download(ctx context.Context, rawURL string, limit int64) (_ []byte, _ string, err error) {
	defer c.redact(&err)
	if limit <= 0 {
		limit = maxDownload
	}
	where := redactURL(rawURL)
	if !strings.HasPrefix(strings.ToLower(rawURL), "https://") && !strings.HasPrefix(strings.ToLower(rawURL), "http://") {
		return nil, "", fmt.Errorf("nanogpt: download %s: not an http(s) URL", where)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("nanogpt: download %s: %w", where, err)
	}
	req.Header.Set("User-Agent", c.userAgent) // and deliberately no Authorization / x-api-key
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, "", fmt.Errorf("nanogpt: download %s: %w", where, ctxErr)
		}
		return nil, "", &TransportError{Op: "download " + where, Err: scrubURLError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := capped.Read(resp.Body, resp.ContentLength, maxErrorBody)
		e := parseAPIError(resp.StatusCode, resp.Header, body)
		e.Message = "download " + where + ": " + e.Message
		return nil, "", e
	}
	if resp.ContentLength > limit {
		return nil, "", fmt.Errorf("nanogpt: download %s: %d bytes is more than the %d-byte limit", where, resp.ContentLength, limit)
	}
	data, err := capped.Read(resp.Body, resp.ContentLength, limit)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, "", fmt.Errorf("nanogpt: download %s: %w", where, ctxErr)
		}
		if errors.Is(err, capped.ErrTooLarge) {
			return nil, "", fmt.Errorf("nanogpt: download %s: more than the %d-byte limit", where, limit)
		}
		return nil, "", &TransportError{Op: "read download " + where, Err: err}
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// redactURL drops the query and fragment (signed storage URLs carry tokens there)
// and any user info, for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = nil, "", "", "", false
	return u.String()
}

// scrubURLError removes the full URL that *url.Error embeds.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Redacted stands where a key was, in text that came from NanoGPT.
const Redacted = "[redacted key]"

// Redact removes the client's key from s: text that came from NanoGPT, or
// from anything between it and us, is never trusted not to echo it.
func (c *Client) Redact(s string) string {
	if c.key == "" || !strings.Contains(s, c.key) {
		return s
	}
	return strings.ReplaceAll(s, c.key, Redacted)
}

// redact removes the client's key from an error before it leaves the client:
// an upstream (or a proxy in front of it) that echoes the key in an error
// body, code or parameter must not hand it to callers or to logs.
func (c *Client) redact(errp *error) {
	err := *errp
	if err == nil || c.key == "" {
		return
	}
	var ae *APIError
	if errors.As(err, &ae) {
		ae.Message, ae.Code, ae.Type, ae.Param, ae.RequestID = c.Redact(ae.Message), c.Redact(ae.Code), c.Redact(ae.Type), c.Redact(ae.Param), c.Redact(ae.RequestID)
	}
	var je *JobError
	if errors.As(err, &je) {
		je.Message, je.Code, je.Status, je.RunID = c.Redact(je.Message), c.Redact(je.Code), c.Redact(je.Status), c.Redact(je.RunID)
	}
	var jw *JobWaitError
	if errors.As(err, &jw) {
		jw.Status, jw.RunID = c.Redact(jw.Status), c.Redact(jw.RunID)
	}
	if strings.Contains(err.Error(), c.key) { // anything else: keep what it is, not what it says
		*errp = &redactedError{err: err, text: c.Redact(err.Error())}
	}
}

// redactedError is an error whose text had a key in it.
type redactedError struct {
	err  error
	text string
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }
