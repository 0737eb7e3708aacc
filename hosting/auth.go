package hosting

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
)

// Caller is who sent a request, as far as limits and logs are concerned.
type Caller struct {
	// ID is a short hash of the caller's credential (their NanoGPT key with
	// per-caller keys, else their access token, else their address). It is
	// safe to log and stable across replicas and restarts.
	ID string
	// Key is the caller's NanoGPT key, with per-caller keys only. Never log it.
	Key string

	bucket       string // full hash: the key of the caller's limits
	credentialed bool   // identified by a secret, not an address
}

// Owner is the full hash of the caller's credential: what the server's
// state (jobs, stored media) belongs to. Like ID, it is no secret.
func (c Caller) Owner() string { return c.bucket }

// String shows the ID only.
func (c Caller) String() string { return c.ID }

// GoString keeps the key out of %#v.
func (c Caller) GoString() string { return fmt.Sprintf("hosting.Caller{ID:%q}", c.ID) }

// LogValue keeps the key out of slog output.
func (c Caller) LogValue() slog.Value { return slog.StringValue(c.ID) }

func newCaller(kind, secret string, credentialed bool) Caller {
	sum := sha256.Sum256([]byte("nanogpt-mcp caller\x00" + kind + "\x00" + secret))
	full := hex.EncodeToString(sum[:])
	return Caller{ID: full[:12], bucket: full, credentialed: credentialed}
}

type callerCtxKey struct{}

// CallerFrom returns the caller the Gate authenticated for this request
// (r.Context() inside the handlers the Gate wraps, and every context derived
// from it).
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerCtxKey{}).(Caller)
	return c, ok
}

// refusal is an HTTP answer that stops a request.
type refusal struct {
	status     int
	msg        string
	authHeader string // WWW-Authenticate
	retryAfter int    // seconds; 0: no header
	reason     string // short, for the log
	code       int    // the JSON-RPC error code; 0: -32000
}

const realm = `Bearer realm="nanogpt-mcp"`

// authenticate checks the access token and finds the caller (and, with
// per-caller keys, their key).
func (g *Gate) authenticate(r *http.Request) (Caller, *refusal) {
	var token string
	if len(g.tokens) > 0 {
		token = g.tokenFrom(r)
		where := "an Authorization: Bearer header"
		if !isHeader(g.tokenHeader, "Authorization") {
			where = "the " + g.tokenHeader + " header"
		}
		if token == "" {
			return Caller{}, &refusal{status: http.StatusUnauthorized, reason: "no access token",
				msg:        "unauthorized: this server needs an access token in " + where,
				authHeader: realm}
		}
		if !g.tokenValid(token) {
			return Caller{}, &refusal{status: http.StatusUnauthorized, reason: "wrong access token",
				msg:        "unauthorized: the access token in " + where + " is not valid",
				authHeader: realm + `, error="invalid_token"`}
		}
	}
	if g.callerKeys {
		key, ref := g.keyFrom(r)
		if ref != nil {
			return Caller{}, ref
		}
		c := newCaller("key", key, true)
		c.Key = key
		return c, nil
	}
	if token != "" {
		return newCaller("token", token, true), nil
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return newCaller("addr", host, false), nil
}

// tokenFrom reads the access token from the configured header.
func (g *Gate) tokenFrom(r *http.Request) string {
	v := strings.TrimSpace(r.Header.Get(g.tokenHeader))
	if isHeader(g.tokenHeader, "Authorization") {
		return bearer(v)
	}
	if b := bearer(v); b != "" {
		return b
	}
	return v
}

// tokenValid compares token with every configured token in constant time
// (hashes first, so neither the length nor the position of a match leaks).
func (g *Gate) tokenValid(token string) bool {
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for i := range g.tokens {
		ok |= subtle.ConstantTimeCompare(sum[:], g.tokens[i][:])
	}
	return ok == 1
}

// keyFrom reads the caller's NanoGPT key from Authorization: Bearer or
// x-api-key, whichever does not carry the access token.
func (g *Gate) keyFrom(r *http.Request) (string, *refusal) {
	var keys []string
	if !isHeader(g.tokenHeader, "Authorization") || len(g.tokens) == 0 {
		if k := bearer(strings.TrimSpace(r.Header.Get("Authorization"))); k != "" {
			keys = append(keys, k)
		}
	}
	if !isHeader(g.tokenHeader, "X-Api-Key") || len(g.tokens) == 0 {
		if k := strings.TrimSpace(r.Header.Get("X-Api-Key")); k != "" {
			keys = append(keys, k)
		}
	}
	where := g.keyHeaders()
	if len(keys) == 0 {
		return "", &refusal{status: http.StatusUnauthorized, reason: "no caller key",
			msg:        "unauthorized: this server uses each caller's own NanoGPT API key: send yours in " + where,
			authHeader: realm + `, error="invalid_request", error_description="send your NanoGPT API key in ` + where + `"`}
	}
	if len(keys) == 2 && keys[0] != keys[1] {
		return "", &refusal{status: http.StatusBadRequest, reason: "two different caller keys",
			msg: "bad request: Authorization and x-api-key carry different keys; send one key (in either or both)"}
	}
	k := keys[0]
	if len(k) > maxKeyLength || strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", &refusal{status: http.StatusUnauthorized, reason: "malformed caller key",
			msg:        "unauthorized: the NanoGPT API key is malformed",
			authHeader: realm + `, error="invalid_token"`}
	}
	return k, nil
}

// keyHeaders says where a caller's key goes, for messages.
func (g *Gate) keyHeaders() string {
	switch {
	case len(g.tokens) > 0 && isHeader(g.tokenHeader, "Authorization"):
		return "the x-api-key header"
	case len(g.tokens) > 0 && isHeader(g.tokenHeader, "X-Api-Key"):
		return "an Authorization: Bearer header"
	}
	return "an Authorization: Bearer header or the x-api-key header"
}

// bearer returns the credentials of an "Bearer <x>" value, or "".
func bearer(v string) string {
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}
