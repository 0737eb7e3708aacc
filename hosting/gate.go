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

// guard runs the checks every MCP request passes: Host, Origin (and CORS),
// draining, access token and caller key, body size. It leaves the caller in
// the request's context and the body buffered.
func (g *Gate) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
			w.Header().Set("Connection", "close")
			g.refuse(w, r, &caller, g.tooLarge())
			return
		}
		if r.Method == http.MethodPost && r.Body != nil && r.Body != http.NoBody {
			body, ref := g.readBody(w, r)
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
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (g *Gate) tooLarge() *refusal {
	return &refusal{status: http.StatusRequestEntityTooLarge, reason: "body too large",
		msg: fmt.Sprintf("request entity too large: the body exceeds %d bytes (see --max-body)", g.maxBody)}
}

// readBody reads at most maxBody bytes within bodyReadTimeout.
func (g *Gate) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *refusal) {
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(g.bodyReadTimeout)) == nil
	body, err := io.ReadAll(io.LimitReader(r.Body, g.maxBody+1))
	if err != nil || int64(len(body)) > g.maxBody {
		// Close the connection rather than read the rest of the body; the
		// deadline stays so that nothing waits on this client any more.
		w.Header().Set("Connection", "close")
		if err != nil {
			return nil, &refusal{status: http.StatusBadRequest, reason: "body unreadable", msg: "bad request: the body could not be read in time"}
		}
		return nil, g.tooLarge()
	}
	if deadline {
		_ = rc.SetReadDeadline(time.Time{}) // a long call must not hit it later
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
		hr := &server.HTTPRequest{Method: r.Method, URL: r.URL, Header: r.Header, Body: body, Context: r.Context()}
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
		if m.kind == msgRequest && m.Method == "tools/call" {
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

var errStreamGone = errors.New("hosting: the SSE stream of this call closed")
