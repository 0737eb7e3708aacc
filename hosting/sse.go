package hosting

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/nanogpt-mcp/nanogpt-mcp/jsonrpc"
)

// Legacy SSE runs a tool call after POST /message has been answered (202),
// and sends its result on the GET /sse stream. mcp-go detaches the call from
// both requests, so nothing cancels it when the client goes away. The Gate
// tracks each stream: a call is in flight from its POST until its response is
// written to the stream, and when the stream closes, its calls are cancelled
// (through BindCall) and counted out.

// sseStream is one GET /sse connection.
type sseStream struct {
	id          string
	owner       Caller
	ctx         context.Context // cancelled when the stream ends (or on Abort)
	cancel      context.CancelCauseFunc
	sw          *streamWriter
	reservation *reservation       // its place among the sessions
	closed      bool               // guarded by Gate.mu
	pending     map[string][]*call // by JSON-RPC id; guarded by Gate.mu
	dropped     map[string]int     // ids of cancelled calls whose answers are not sent; guarded by Gate.mu
}

// call is a tool call waiting for its response on the stream.
type call struct{ release func() }

type streamCtxKey struct{}
type bindCtxKey struct{}

// SSESessionID generates the id of a new SSE session and ties it to the
// stream being opened. Pass it to mcp-go: server.WithSessionIDGenerator.
func (g *Gate) SSESessionID(ctx context.Context, r *http.Request) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40 // a version 4 UUID, as mcp-go makes
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	id := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	if st, ok := ctx.Value(streamCtxKey{}).(*sseStream); ok {
		g.mu.Lock()
		st.id = id
		g.streams[id] = st
		g.mu.Unlock()
		if st.reservation != nil {
			st.reservation.add(id, true)
		}
	}
	return id, nil
}

// sseStream wraps GET /sse: it registers the stream, watches the responses
// written to it, and when it ends cancels and counts out its calls.
func (g *Gate) sseStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		caller, _ := CallerFrom(r.Context())
		res, ref := g.sessions.reserve(caller) // a stream is a session
		if ref != nil {
			g.refuse(w, r, &caller, ref)
			return
		}
		defer res.release()
		ctx, cancel := context.WithCancelCause(g.abortCtx)
		st := &sseStream{owner: caller, ctx: ctx, cancel: cancel, pending: map[string][]*call{}, dropped: map[string]int{}, reservation: res}
		defer g.endStream(st)
		sw := &streamWriter{ResponseWriter: w, g: g, st: st}
		st.sw = sw
		g.log.Debug("sse stream opened", "caller", caller.ID)
		g.withKeepAlive(sw, r.WithContext(context.WithValue(r.Context(), streamCtxKey{}, st)), next)
	})
}

func (g *Gate) endStream(st *sseStream) {
	g.mu.Lock()
	if st.id != "" {
		delete(g.streams, st.id)
		g.sessions.remove(st.id)
	}
	st.closed = true
	pending := st.pending
	st.pending = nil
	g.mu.Unlock()
	st.cancel(errStreamGone)
	n := 0
	for _, calls := range pending {
		for _, c := range calls {
			c.release()
			n++
		}
	}
	if n > 0 {
		g.log.Info("sse client went away; its calls were cancelled", "caller", st.owner.ID, "calls", n)
	} else {
		g.log.Debug("sse stream closed", "caller", st.owner.ID)
	}
}

// sseMessage wraps POST /message: it checks the session belongs to the
// caller, admits the tool calls, and binds them to the session's stream.
func (g *Gate) sseMessage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		g.mu.Lock()
		st := g.streams[r.URL.Query().Get("sessionId")]
		g.mu.Unlock()
		if st == nil {
			next.ServeHTTP(w, r) // mcp-go answers an unknown session
			return
		}
		caller, _ := CallerFrom(r.Context())
		if st.owner.credentialed && st.owner.bucket != caller.bucket {
			g.refuse(w, r, &caller, &refusal{status: http.StatusForbidden, reason: "foreign SSE session",
				msg: "forbidden: this SSE session was opened with other credentials"})
			return
		}
		m := readMessage(body(r))
		if g.refuseMessage(w, r, caller, m) {
			return
		}
		session := r.URL.Query().Get("sessionId")
		if m.kind == msgNotification && m.Method == "notifications/cancelled" {
			g.cancelled(w, r, caller, session)
			return
		}
		if m.kind == msgRequest {
			if v := modernVersion(body(r)); v != "" {
				// The 2026-07-28 era has no sessions, and so no legacy SSE. The
				// request is refused on the stream, as any answer would come,
				// with the versions served here: clients then fall back to
				// 2025-11-25 (the Go SDK and the TypeScript SDK do on this
				// error to server/discover, their first request).
				e := mcp.UnsupportedProtocolVersionError{Version: v, Supported: mcp.LegacyProtocolVersions()}.JSONRPCError()
				e.ID = mcp.NewRequestId(jsonrpc.Value(m.ID))
				e.Error.Message += "; legacy SSE serves the versions before 2026-07-28 (use streamable HTTP at /mcp for it)"
				w.WriteHeader(http.StatusAccepted)
				if b, err := json.Marshal(e); err == nil {
					_ = st.sw.send(b)
				}
				return
			}
		}
		ctx := context.WithValue(r.Context(), bindCtxKey{}, st.ctx)
		if m.kind == msgRequest && m.Method == "initialize" { // counted like a tool call, as on /mcp
			rels, ref := g.admit(caller, 1)
			if ref != nil {
				g.refuse(w, r, &caller, ref)
				return
			}
			defer rels[0]()
		}
		var c *call
		if m.kind == msgRequest && m.Method == "tools/call" {
			rels, ref := g.admit(caller, 1)
			if ref != nil {
				g.refuse(w, r, &caller, ref)
				return
			}
			callCtx, cancel := context.WithCancel(st.ctx)
			forget := g.track(callKey(caller, session, m.id), &liveCall{cancel: func() { g.dropAnswer(st, m.id); cancel() }})
			c = &call{release: sync.OnceFunc(func() { forget(); rels[0](); cancel() })}
			g.mu.Lock()
			closed := st.closed
			if !closed {
				st.pending[m.id] = append(st.pending[m.id], c)
			}
			g.mu.Unlock()
			if closed {
				c.release() // the stream is gone: the call runs, but is counted out now
			}
			id := m.id
			ctx = context.WithValue(ctx, bindCtxKey{}, callCtx)
			ctx = context.WithValue(ctx, eventsKey{}, func(msg []byte) error {
				g.mu.Lock()
				dropped := st.dropped[id] > 0
				g.mu.Unlock()
				if dropped {
					return nil
				}
				return st.sw.send(msg)
			})
		}
		sr := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(sr, r.WithContext(ctx))
		if sr.status != http.StatusAccepted && c != nil {
			g.forget(st, m.id, c) // not accepted: no answer will come on the stream
		}
	})
}

// modernVersion returns the protocol version a request names in its _meta
// when it is of the 2026-07-28 era or later, else "".
func modernVersion(body []byte) string {
	var m struct {
		Params struct {
			Meta map[string]any `json:"_meta"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	if v, _ := m.Params.Meta[mcp.MetaKeyProtocolVersion].(string); mcp.IsModernProtocol(v) {
		return v
	}
	return ""
}

// dropAnswer marks the call with id as cancelled: its answer, when it comes,
// is not written to the stream.
func (g *Gate) dropAnswer(st *sseStream, id string) {
	g.mu.Lock()
	if !st.closed {
		st.dropped[id]++
	}
	g.mu.Unlock()
}

func body(r *http.Request) []byte {
	b, _ := r.Context().Value(bodyCtxKey{}).([]byte)
	return b
}

// resolve counts out the oldest pending call with this id, if any.
func (g *Gate) resolve(st *sseStream, id string) {
	g.mu.Lock()
	var c *call
	if calls := st.pending[id]; len(calls) > 0 {
		c = calls[0]
		g.dropLocked(st, id, c)
	}
	g.mu.Unlock()
	if c != nil {
		c.release()
	}
}

// forget counts out c, which will get no answer.
func (g *Gate) forget(st *sseStream, id string, c *call) {
	g.mu.Lock()
	g.dropLocked(st, id, c)
	g.mu.Unlock()
	c.release()
}

func (g *Gate) dropLocked(st *sseStream, id string, c *call) {
	calls := st.pending[id]
	for i, x := range calls {
		if x == c {
			calls = append(calls[:i:i], calls[i+1:]...)
			break
		}
	}
	if len(calls) == 0 {
		delete(st.pending, id)
	} else {
		st.pending[id] = calls
	}
}

// BindCall returns a context for a tool call that is also cancelled when the
// Gate says so: when the SSE stream the call answers on closes, or on Abort.
// Use it in a tool handler middleware; outside a Gate it only adds a cancel.
func BindCall(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	release := func() {}
	if t, ok := ctx.Value(taskCallKey{}).(*taskCall); ok { // a task's place in the limits ends with it
		t.started.Store(true)
		release = t.release
	}
	bound, ok := ctx.Value(bindCtxKey{}).(context.Context)
	if !ok {
		return ctx, func() { cancel(context.Canceled); release() }
	}
	stop := context.AfterFunc(bound, func() { cancel(context.Cause(bound)) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
		release()
	}
}

// taskCall is a tool call run as a task over streamable HTTP: its place in
// the limits, given back when its handler ends (BindCall's cancel), or when
// it has not started taskStartGrace after its POST was answered.
type taskCall struct {
	release func()
	started atomic.Bool
}

type taskCallKey struct{}

const taskStartGrace = 10 * time.Second

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// streamWriter passes an event stream through. It counts out the call each
// response written to an SSE session answers (st set), and sends keep-alive
// comments between events, serialised with the handler's writes.
type streamWriter struct {
	http.ResponseWriter
	g  *Gate
	st *sseStream // nil: no call tracking

	mu        sync.Mutex
	streaming bool   // an event stream has started
	line      []byte // an incomplete line
	data      []byte // the data lines of the current event
}

func (s *streamWriter) WriteHeader(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ResponseWriter.WriteHeader(code)
	s.started(code)
}

func (s *streamWriter) started(code int) {
	s.streaming = code == http.StatusOK && strings.HasPrefix(s.Header().Get("Content-Type"), "text/event-stream")
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st != nil && s.droppedAnswer(p) {
		return len(p), nil
	}
	if !s.streaming {
		s.started(http.StatusOK)
	}
	n, err := s.ResponseWriter.Write(p)
	s.scan(p[:n])
	return n, err
}

// droppedAnswer reports whether p is the answer of a cancelled call, and then
// counts that call out. mcp-go writes each event whole, in one Write.
func (s *streamWriter) droppedAnswer(p []byte) bool {
	s.g.mu.Lock()
	any := len(s.st.dropped) > 0
	s.g.mu.Unlock()
	if !any || len(s.line) > 0 || len(s.data) > 0 {
		return false
	}
	data, ok := bytes.CutPrefix(p, []byte("event: message\ndata: "))
	if !ok {
		return false
	}
	id, ok := responseID(bytes.TrimRight(data, "\r\n"))
	if !ok {
		return false
	}
	s.g.mu.Lock()
	n := s.st.dropped[id]
	if n > 0 {
		if n == 1 {
			delete(s.st.dropped, id)
		} else {
			s.st.dropped[id] = n - 1
		}
	}
	s.g.mu.Unlock()
	if n == 0 {
		return false
	}
	s.g.resolve(s.st, id)
	return true
}

// send writes one JSON-RPC message as an event of the stream, between the
// events mcp-go writes.
func (s *streamWriter) send(msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.streaming {
		return errors.New("hosting: the event stream has not started")
	}
	if err := writeEvent(s.ResponseWriter, msg); err != nil {
		return err
	}
	s.flush()
	return nil
}

func (s *streamWriter) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flush()
}

func (s *streamWriter) flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// keepAlive writes an SSE comment, which every client ignores, when the
// stream is between two events. Proxies then see traffic on idle streams.
// (mcp-go's own keep-alives are JSON-RPC ping requests whose ids can collide
// with the client's, so they are not used.)
func (s *streamWriter) keepAlive() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.streaming || len(s.line) > 0 || len(s.data) > 0 {
		return
	}
	if _, err := io.WriteString(s.ResponseWriter, ": keep-alive\n\n"); err == nil {
		s.flush()
	}
}

// withKeepAlive runs next with keep-alive comments on sw every g.keepAlive,
// and stops them before it returns.
func (g *Gate) withKeepAlive(sw *streamWriter, r *http.Request, next http.Handler) {
	if g.keepAlive <= 0 {
		next.ServeHTTP(sw, r)
		return
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(g.keepAlive)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sw.keepAlive()
			case <-stop:
				return
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	next.ServeHTTP(sw, r)
}

// scan splits what was written into SSE lines and handles complete events.
func (s *streamWriter) scan(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.line = append(s.line, p...)
			return
		}
		line := p[:i]
		if len(s.line) > 0 {
			line = append(s.line, line...)
			s.line = s.line[:0]
		}
		p = p[i+1:]
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(line) == 0:
			if len(s.data) > 0 {
				s.event(s.data)
				s.data = s.data[:0]
			}
			if cap(s.data) > 1<<20 {
				s.data = nil // do not keep a large result's buffer for the stream's life
			}
			if cap(s.line) > 1<<20 {
				s.line = nil
			}
		case bytes.HasPrefix(line, []byte("data:")):
			d := bytes.TrimPrefix(line[5:], []byte(" "))
			if len(s.data) > 0 {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, d...)
		}
	}
}

// event resolves the call a JSON-RPC response answers.
func (s *streamWriter) event(data []byte) {
	if s.st == nil || len(data) == 0 || data[0] != '{' {
		return // the endpoint event, or not JSON-RPC
	}
	if id, ok := responseID(data); ok {
		s.g.resolve(s.st, id)
	}
}

// responseID reads the id of a JSON-RPC response without decoding its result
// (which may be megabytes of media) when the id comes first, as mcp-go writes.
func responseID(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	var id string
	var haveID, isResponse bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := t.(string)
		switch key {
		case "method":
			return "", false // a request or notification from the server
		case "id":
			var raw json.RawMessage
			if dec.Decode(&raw) != nil {
				return "", false
			}
			id, haveID = jsonrpc.Key(raw)
			if !haveID {
				return "", false
			}
		case "result", "error":
			isResponse = true
			if haveID {
				return id, true
			}
			if skip(dec) != nil {
				return "", false
			}
		default:
			if skip(dec) != nil {
				return "", false
			}
		}
	}
	return id, haveID && isResponse
}

func skip(dec *json.Decoder) error {
	var raw json.RawMessage
	err := dec.Decode(&raw)
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
