package hosting

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/nanogpt-mcp/nanogpt-mcp/capped"
	"github.com/nanogpt-mcp/nanogpt-mcp/jsonrpc"
)

// Gate is the HTTP front door. Build one with New, mount Handler, and on
// shutdown call Drain, Wait, then (if Wait timed out) Abort.
type Gate struct {
	tokens          [][32]byte
	tokenHeader     string
	callerKeys      bool
	origins         map[string]bool
	anyOrigin       bool
	hosts           []string
	maxBody         int64
	bodyReadTimeout time.Duration
	maxConcurrent   int
	keepAlive       time.Duration
	ready           func() error
	log             *slog.Logger
	now             func() time.Time

	draining atomic.Bool
	abortCtx context.Context // cancelled by Abort: every bound call ends
	abort    context.CancelFunc

	mu       sync.Mutex
	limiter  *rateLimiter
	active   map[string]int // tool calls in flight per caller bucket
	inflight int
	idle     chan struct{} // closed when inflight drops to 0
	streams  map[string]*sseStream
	live     map[string][]*liveCall // tool calls a cancellation can reach, by callKey

	bodies    *budget
	sessions  *sessionRegistry
	stateless bool
}

// New builds a Gate from o.
func New(o Options) (*Gate, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	g := &Gate{
		tokenHeader:     o.TokenHeader,
		callerKeys:      o.CallerKeys,
		origins:         map[string]bool{},
		maxBody:         o.MaxBody,
		bodyReadTimeout: o.BodyReadTimeout,
		maxConcurrent:   o.MaxConcurrent,
		keepAlive:       o.KeepAlive,
		ready:           o.Ready,
		log:             o.Logger,
		now:             o.Now,
		active:          map[string]int{},
		idle:            make(chan struct{}),
		streams:         map[string]*sseStream{},
		live:            map[string][]*liveCall{},
	}
	close(g.idle)
	g.abortCtx, g.abort = context.WithCancel(context.Background())
	if g.tokenHeader == "" {
		g.tokenHeader = "Authorization"
	}
	for _, t := range o.Tokens {
		g.tokens = append(g.tokens, sha256.Sum256([]byte(t)))
	}
	for _, origin := range o.AllowedOrigins {
		n, _ := normalizeOrigin(origin)
		if n == "*" {
			g.anyOrigin = true
		}
		g.origins[n] = true
	}
	for _, h := range o.AllowedHosts {
		g.hosts = append(g.hosts, strings.ToLower(h))
	}
	if g.maxBody == 0 {
		g.maxBody = DefaultMaxBody
	}
	if g.bodyReadTimeout == 0 {
		g.bodyReadTimeout = DefaultBodyReadTimeout
	}
	if o.RateLimit > 0 {
		g.limiter = newRateLimiter(o.RateLimit)
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.bodies = &budget{left: cmp.Or(o.MaxBodies, DefaultMaxBodies)}
	g.sessions = newSessionRegistry(o, g.now)
	g.stateless = o.Stateless
	return g, nil
}

// Streamable is the streamable HTTP transport the Gate serves at /mcp
// (mcp-go's StreamableHTTPServer). Requests reach it through mcp-go's
// transport-neutral seam, with the body the Gate has already read (not read
// and copied again) and a response writer of the Gate's (postStream).
type Streamable interface {
	Handle(w server.HTTPResponseWriter, r *server.HTTPRequest)
}

// Endpoints are the MCP handlers the Gate protects. Nil ones are not served.
type Endpoints struct {
	Streamable Streamable   // streamable HTTP, at /mcp
	SSE        http.Handler // legacy SSE stream, GET /sse
	Message    http.Handler // legacy SSE messages, POST /message?sessionId=...
	// Media serves GET /media/...: signed download links, which need no
	// access token (the link is the credential). Host, draining and the
	// time to send a request apply as to every request.
	Media http.Handler
}

// Handler serves /healthz and /readyz (open to all: probes carry no token),
// and the endpoints behind the checks.
func (g *Gate) Handler(e Endpoints) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", g.healthz)
	mux.HandleFunc("/readyz", g.readyz)
	if e.Streamable != nil {
		mux.Handle("/mcp", g.guard(g.streamable(e.Streamable)))
	}
	if e.SSE != nil {
		mux.Handle("/sse", g.guard(g.sseStream(e.SSE)))
	}
	if e.Message != nil {
		mux.Handle("/message", g.guard(g.sseMessage(e.Message)))
	}
	if e.Media != nil {
		mux.Handle("/media/", g.linked(e.Media))
	}
	return mux
}

// Drain makes /readyz fail and refuses new requests with 503; requests
// already admitted go on.
func (g *Gate) Drain() { g.draining.Store(true) }

// Abort cancels every tool call still running (after Drain and a Wait that
// timed out).
func (g *Gate) Abort() { g.abort() }

func (g *Gate) healthz(w http.ResponseWriter, r *http.Request) {
	writeStatus(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (g *Gate) readyz(w http.ResponseWriter, r *http.Request) {
	if g.draining.Load() {
		writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	if g.ready != nil {
		if err := g.ready(); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeStatus(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type bodyCtxKey struct{}

// linked runs the checks of requests that carry no access token (signed
// download links): the time to send the request, Host, draining; no body.
func (g *Gate) linked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(g.bodyReadTimeout))
		switch {
		case !g.hostAllowed(r):
			g.refuse(w, r, nil, &refusal{status: http.StatusForbidden, reason: "Host not allowed",
				msg: fmt.Sprintf("forbidden: Host %q is not allowed (DNS-rebinding protection; see --allowed-host)", r.Host)})
		case g.draining.Load():
			g.refuse(w, r, nil, &refusal{status: http.StatusServiceUnavailable, retryAfter: 1, reason: "draining", msg: "service unavailable: the server is shutting down"})
		case r.ContentLength != 0:
			g.refuse(w, r, nil, &refusal{status: http.StatusBadRequest, reason: "body on a link", msg: "bad request: a download takes no body"})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// guard runs the checks every MCP request passes: Host, Origin (and CORS),
// draining, access token and caller key, body size. It leaves the caller in
// the request's context and the body buffered.
func (g *Gate) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every request, authenticated or not, has a bounded time to arrive
		// whole (its headers are bounded by the server's ReadHeaderTimeout);
		// the deadline is lifted only once the Gate has admitted it and read
		// its body. A refused request keeps it, and its connection closes.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(g.bodyReadTimeout))
		if !g.hostAllowed(r) {
			g.refuse(w, r, nil, &refusal{status: http.StatusForbidden, reason: "Host not allowed",
				msg: fmt.Sprintf("forbidden: Host %q is not allowed (DNS-rebinding protection; see --allowed-host)", r.Host)})
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !g.originAllowed(origin) {
				g.refuse(w, r, nil, &refusal{status: http.StatusForbidden, reason: "Origin not allowed",
					msg: fmt.Sprintf("forbidden: Origin %q is not allowed (see --allowed-origin)", origin)})
				return
			}
			g.cors(w, r, origin)
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if g.draining.Load() {
			g.refuse(w, r, nil, &refusal{status: http.StatusServiceUnavailable, retryAfter: 1, reason: "draining",
				msg: "service unavailable: the server is shutting down; retry (another replica will answer)"})
			return
		}
		caller, ref := g.authenticate(r)
		if ref != nil {
			g.refuse(w, r, nil, ref)
			return
		}
		ctx := context.WithValue(r.Context(), callerCtxKey{}, caller)
		if r.ContentLength > g.maxBody {
			g.refuse(w, r, &caller, g.tooLarge())
			return
		}
		if r.Method == http.MethodPost && r.Body != nil && r.Body != http.NoBody {
			// The bytes of all bodies held at once are bounded too: a body
			// takes its announced size (or the cap) from the budget until
			// its request ends.
			size := r.ContentLength
			if size < 0 {
				size = g.maxBody
			}
			if !g.bodies.take(size) {
				g.refuse(w, r, &caller, &refusal{status: http.StatusServiceUnavailable, retryAfter: 1, reason: "bodies in flight",
					msg: "service unavailable: the server is reading as many request bodies as it may hold; retry in a moment"})
				return
			}
			defer g.bodies.give(size)
			body, ref := g.readBody(r)
			if ref != nil {
				g.refuse(w, r, &caller, ref)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			ctx = context.WithValue(ctx, bodyCtxKey{}, body)
		} else if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
		}
		_ = rc.SetReadDeadline(time.Time{}) // admitted: a long call or stream must not hit it later
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (g *Gate) tooLarge() *refusal {
	return &refusal{status: http.StatusRequestEntityTooLarge, reason: "body too large",
		msg: fmt.Sprintf("request entity too large: the body exceeds %d bytes (see --max-body)", g.maxBody)}
}

// readBody reads at most maxBody bytes, within the request's deadline, into
// one buffer of the announced size.
func (g *Gate) readBody(r *http.Request) ([]byte, *refusal) {
	body, err := capped.Read(r.Body, r.ContentLength, g.maxBody)
	switch {
	case errors.Is(err, capped.ErrTooLarge):
		return nil, g.tooLarge()
	case err != nil:
		return nil, &refusal{status: http.StatusBadRequest, reason: "body unreadable", msg: "bad request: the body could not be read in time"}
	}
	return body, nil
}

// hostAllowed is the DNS-rebinding check.
func (g *Gate) hostAllowed(r *http.Request) bool {
	if IsLoopbackHost(r.Host) {
		return true
	}
	host := strings.ToLower(r.Host)
	for _, h := range g.hosts {
		if host == h || strings.HasPrefix(host, h+":") && !strings.Contains(h, ":") {
			return true
		}
	}
	if len(g.hosts) > 0 {
		return false
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return !ok || local == nil || !IsLoopbackHost(local.String())
}

func (g *Gate) originAllowed(origin string) bool {
	if g.anyOrigin {
		return true
	}
	n, err := normalizeOrigin(origin)
	if err != nil {
		return false // "null" and other opaque origins
	}
	if g.origins[n] {
		return true
	}
	return IsLoopbackHost(strings.SplitN(n, "://", 2)[1])
}

// cors answers an allowed browser origin.
func (g *Gate) cors(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate, Retry-After")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "600")
	}
}

// refusalLinger is how long a refused request's unread body is drained
// (net/http reads up to 256 KiB of it) before its connection closes.
const refusalLinger = 250 * time.Millisecond

// refuse answers with a JSON-RPC error body and logs why (never a credential).
func (g *Gate) refuse(w http.ResponseWriter, r *http.Request, c *Caller, ref *refusal) {
	attrs := []any{"status", ref.status, "reason", ref.reason, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr}
	if c != nil {
		attrs = append(attrs, "caller", c.ID)
	}
	level := slog.LevelInfo
	if ref.status == http.StatusServiceUnavailable {
		level = slog.LevelDebug
	}
	g.log.Log(r.Context(), level, "request refused", attrs...)
	if ref.authHeader != "" {
		w.Header().Set("WWW-Authenticate", ref.authHeader)
	}
	if ref.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ref.retryAfter))
	}
	// A refused request's connection closes, and its unread body is drained
	// for refusalLinger at most: a client must not hold a connection by
	// trickling one, but a body already sent is read, so that closing does
	// not reset the connection before the client has read this answer.
	w.Header().Set("Connection", "close")
	defer func() { _ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(refusalLinger)) }()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(ref.status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0", "id": nil,
		"error": map[string]any{"code": cmp.Or(ref.code, -32000), "message": ref.msg},
	})
}

// rpcMessage is what the Gate reads of a JSON-RPC message.
type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params jsonrpc.Task    `json:"params"`

	id   string // the normalised id (idKey) of a request
	kind int
}

// Kinds of POST body.
const (
	msgOther   = iota // not JSON-RPC the Gate understands: mcp-go answers it
	msgRequest        // a request with a valid id
	msgNotification
	msgResponse // the client's answer to a request of the server
	msgBadID    // a request whose id is neither a string nor an integer
	msgBatch    // a JSON array: MCP has no batches since 2025-06-18, and mcp-go serves none
)

// readMessage classifies a POST body.
func readMessage(body []byte) rpcMessage {
	body = bytes.TrimLeft(body, " \t\r\n")
	var m rpcMessage
	switch {
	case len(body) == 0:
		return m
	case body[0] == '[':
		m.kind = msgBatch
		return m
	case json.Unmarshal(body, &m) != nil:
		return rpcMessage{}
	}
	switch {
	case m.Method == "" && len(m.ID) > 0:
		m.kind = msgResponse
	case m.Method == "":
	case len(m.ID) == 0:
		m.kind = msgNotification
	default:
		var ok bool
		if m.id, ok = jsonrpc.Key(m.ID); ok {
			m.kind = msgRequest
		} else {
			m.kind = msgBadID
		}
	}
	return m
}

// refuseMessage answers the bodies the Gate refuses before anything runs:
// batches and ids of the wrong type, whose calls would escape the limits.
func (g *Gate) refuseMessage(w http.ResponseWriter, r *http.Request, c Caller, m rpcMessage) bool {
	switch m.kind {
	case msgBatch:
		g.refuse(w, r, &c, &refusal{status: http.StatusBadRequest, reason: "batch", code: -32600,
			msg: "invalid request: JSON-RPC batches are not supported (MCP has none since 2025-06-18); send one message per request"})
	case msgBadID:
		g.refuse(w, r, &c, &refusal{status: http.StatusBadRequest, reason: "bad id", code: -32600,
			msg: "invalid request: the id must be a string or an integer"})
	default:
		return false
	}
	return true
}

// streamable serves /mcp: the GET listening stream, DELETE, and POSTs. A
// POSTed tool call is admitted (limits), tracked (cancellation) and given its
// own events (postStream); it is in flight until mcp-go has answered it.
func (g *Gate) streamable(next Streamable) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := r.Context().Value(bodyCtxKey{}).([]byte)
		// mcp-go hands the context funcs a request rebuilt from these fields,
		// whose Host is the URL's: a server request's URL has none.
		u := *r.URL
		u.Host = r.Host
		hr := &server.HTTPRequest{Method: r.Method, URL: &u, Header: r.Header, Body: body, Context: r.Context()}
		if (r.Method == http.MethodGet || r.Method == http.MethodDelete) && !g.stateless {
			// mcp-go checks no session id on a GET, and fails a DELETE it
			// cannot do with a 500: the Gate checks that the session is the
			// caller's own first.
			caller, _ := CallerFrom(r.Context())
			if id := r.Header.Get("Mcp-Session-Id"); (id != "" || r.Method == http.MethodDelete) && g.sessions.validate(id, caller.bucket) != nil {
				g.refuse(w, r, &caller, &refusal{status: http.StatusNotFound, reason: "unknown session", msg: "not found: no such session (Invalid session ID)"})
				return
			}
		}
		if r.Method == http.MethodGet {
			// The optional listening stream: keep-alives, nothing to count.
			g.withKeepAlive(&streamWriter{ResponseWriter: w, g: g}, r, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				next.Handle(plainWriter{w}, hr)
			}))
			return
		}
		if r.Method != http.MethodPost {
			next.Handle(plainWriter{w}, hr)
			return
		}
		caller, _ := CallerFrom(r.Context())
		m := readMessage(body)
		if g.refuseMessage(w, r, caller, m) {
			return
		}
		session := r.Header.Get("Mcp-Session-Id")
		if m.kind == msgNotification && m.Method == "notifications/cancelled" {
			g.cancelled(w, r, caller, session)
			return
		}
		ps := newPostStream(w)
		defer ps.finish()
		ctx := context.WithValue(r.Context(), bindCtxKey{}, g.abortCtx)
		if m.kind == msgRequest && m.Method == "initialize" && !g.stateless {
			// A session is a client's to hold: initialize counts against
			// the rate limit like a tool call, and needs a free session.
			rels, ref := g.admit(caller, 1)
			if ref == nil {
				defer rels[0]()
				var res *reservation
				if res, ref = g.sessions.reserve(caller); res != nil {
					defer res.release()
					ctx = context.WithValue(ctx, reservationKey{}, res)
				}
			}
			if ref != nil {
				g.refuse(w, r, &caller, ref)
				return
			}
		}
		if m.kind == msgRequest && m.Method == "tools/call" && m.Params.Asked() {
			// Run as a task, the call is answered at once and runs on after
			// the POST: it keeps its place in the limits until it ends.
			rels, ref := g.admit(caller, 1)
			if ref != nil {
				g.refuse(w, r, &caller, ref)
				return
			}
			t := &taskCall{release: sync.OnceFunc(rels[0])}
			ctx = context.WithValue(ctx, taskCallKey{}, t)
			defer time.AfterFunc(taskStartGrace, func() { // refused by mcp-go (too many tasks): it never starts
				if !t.started.Load() {
					t.release()
				}
			})
		} else if m.kind == msgRequest && m.Method == "tools/call" {
			rels, ref := g.admit(caller, 1)
			if ref != nil {
				g.refuse(w, r, &caller, ref)
				return
			}
			defer rels[0]()
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			defer g.track(callKey(caller, session, m.id), &liveCall{cancel: func() { ps.drop(); cancel() }})()
			ctx = context.WithValue(ctx, eventsKey{}, ps.event)
		}
		start := time.Now()
		hr.Context = ctx
		next.Handle(ps, hr)
		g.log.Debug("mcp request", "path", r.URL.Path, "caller", caller.ID, "method", m.Method, "duration", time.Since(start))
	})
}

// plainWriter is an http.ResponseWriter as mcp-go's HTTPResponseWriter.
type plainWriter struct{ http.ResponseWriter }

func (p plainWriter) Flush() {
	if f, ok := p.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (p plainWriter) CanStream() bool {
	_, ok := p.ResponseWriter.(http.Flusher)
	return ok
}

// budget is a count of bytes that requests take and give back.
type budget struct {
	mu   sync.Mutex
	left int64
}

func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		return false
	}
	b.left -= n
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
}

var errStreamGone = errors.New("hosting: the SSE stream of this call closed")
