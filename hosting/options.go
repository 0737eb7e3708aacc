// Package hosting is the HTTP front door of a hosted MCP server: access tokens,
// per-caller API keys, Origin and Host checks, a body cap, per-caller rate and
// concurrency limits, health endpoints, graceful draining, and cancelling the
// calls of an SSE client that went away.
//
// It knows HTTP and JSON-RPC framing, not the tools behind them: the MCP
// handlers (streamable HTTP at /mcp, legacy SSE at /sse and /message) are
// passed in as plain http.Handlers.
package hosting

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxBody         = 16 << 20 // a 10 MiB image as a data: URL is ~13.4 MiB
	DefaultBodyReadTimeout = time.Minute
	DefaultMaxBodies       = 256 << 20
	MinTokenLength         = 16
	maxKeyLength           = 4096
)

// Options configures a Gate.
type Options struct {
	// Tokens are the access tokens a caller may present. None: no access control.
	Tokens []string
	// TokenHeader is the header that carries the access token. Empty or
	// "Authorization" means "Authorization: Bearer <token>"; any other header
	// holds the token itself (a "Bearer " prefix is tolerated).
	TokenHeader string
	// CallerKeys makes every request carry the caller's own NanoGPT key, in
	// "Authorization: Bearer <key>" or "x-api-key: <key>" (whichever is not the
	// TokenHeader). A request without one is refused with 401.
	CallerKeys bool
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// besides loopback ones; "*" allows every origin. Requests without an
	// Origin header (non-browser clients) are always allowed.
	AllowedOrigins []string
	// AllowedHosts are extra Host header values (host or host:port) accepted.
	// Without any, requests that arrive on a loopback address must name a
	// loopback host (DNS-rebinding protection) and others may use any Host;
	// with some, every request must name a loopback host or one of them.
	AllowedHosts []string
	// MaxBody caps a request body in bytes (default DefaultMaxBody).
	MaxBody int64
	// BodyReadTimeout bounds reading one request body (default DefaultBodyReadTimeout).
	BodyReadTimeout time.Duration
	// RateLimit is the number of tool calls per minute one caller may make
	// (a bucket of that size, refilled continuously). 0: no limit.
	RateLimit int
	// MaxConcurrent caps the tool calls one caller has in flight. 0: no cap.
	MaxConcurrent int
	// MaxBodies caps the bytes of all request bodies held at once (a body
	// counts its announced size, or MaxBody, until its request ends); over
	// it, 503. 0: DefaultMaxBodies.
	MaxBodies int64
	// MaxSessions caps the sessions (streamable HTTP sessions and legacy SSE
	// streams) held at once, and MaxSessionsPerCaller those of one caller.
	// 0: no cap.
	MaxSessions, MaxSessionsPerCaller int
	// Stateless says streamable HTTP serves no sessions (--stateless).
	Stateless bool
	// SessionIdleTimeout ends a streamable HTTP session unused for that long.
	// 0: never (not recommended).
	SessionIdleTimeout time.Duration
	// KeepAlive is how often an idle event stream (GET /sse, GET /mcp) gets an
	// SSE comment, so proxies do not cut it. 0: never.
	KeepAlive time.Duration
	// Ready reports why the server cannot serve yet (nil: ready). Optional.
	Ready func() error
	// Logger receives one line per refused request and per finished call.
	Logger *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Validate checks the options without building anything.
func (o Options) Validate() error {
	var errs []error
	for _, t := range o.Tokens {
		if err := CheckToken(t); err != nil {
			errs = append(errs, err)
		}
	}
	if o.TokenHeader != "" && !validHeaderName(o.TokenHeader) {
		errs = append(errs, fmt.Errorf("access token header %q is not a valid header name", o.TokenHeader))
	}
	for _, origin := range o.AllowedOrigins {
		if _, err := normalizeOrigin(origin); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range o.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ \t*") {
			errs = append(errs, fmt.Errorf("allowed host %q is not a host or host:port", h))
		}
	}
	if o.MaxBody < 0 || o.RateLimit < 0 || o.MaxConcurrent < 0 || o.BodyReadTimeout < 0 || o.KeepAlive < 0 ||
		o.MaxBodies < 0 || o.MaxSessions < 0 || o.MaxSessionsPerCaller < 0 || o.SessionIdleTimeout < 0 {
		errs = append(errs, errors.New("limits must not be negative"))
	}
	return errors.Join(errs...)
}

// CheckToken rejects access tokens too short or too odd to be safe. It never
// includes the token in its error.
func CheckToken(t string) error {
	if len(t) < MinTokenLength {
		return fmt.Errorf("an access token is shorter than %d characters (generate one with: openssl rand -hex 32)", MinTokenLength)
	}
	for _, r := range t {
		if r <= ' ' || r == 0x7f || r == ',' {
			return errors.New("an access token contains a space, a comma or a control character")
		}
	}
	return nil
}

// normalizeOrigin turns "HTTPS://Example.com/" into "https://example.com".
func normalizeOrigin(o string) (string, error) {
	if o == "*" {
		return o, nil
	}
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(o), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("allowed origin %q is not scheme://host[:port] (e.g. https://app.example.com) or *", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// IsLoopbackHost reports whether host (a host or host:port, IPv6 possibly in
// brackets) names the loopback interface: localhost, 127.0.0.0/8 or ::1.
func IsLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

func isHeader(a, b string) bool {
	return http.CanonicalHeaderKey(a) == http.CanonicalHeaderKey(b)
}
