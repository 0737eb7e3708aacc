package hosting

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/mark3labs/mcp-go/server"
	"github.com/nanogpt-mcp/nanogpt-mcp/jsonrpc"
)

// The Gate follows every tool call from its POST to its result, on both
// transports, for what mcp-go leaves undone (docs/ARCHITECTURE.md,
// "mcp-go workarounds"):
//   - A call's notifications go out on the stream that carries its result,
//     written at once by the tool (Events), so none follows the result or
//     lands on another stream (mcp-go queues them for a goroutine, and on a
//     session with a GET stream may send them there).
//   - notifications/cancelled is the Gate's: it cancels only a call of the
//     same caller (and session), answers 202 on every protocol version
//     (mcp-go wants _meta on it in 2026-07-28, which the official Go SDK does
//     not send, and keys 2026-07-28 calls of all callers alike), and nothing
//     more is sent for the cancelled call: neither progress nor result.

// liveCall is a tool call in flight that a cancellation can reach.
type liveCall struct {
	cancel func() // cancels the call's context and drops whatever it still writes
}

// callKey identifies a call for cancellation: its caller, its session (the
// Mcp-Session-Id or the SSE session; empty without sessions) and its id.
func callKey(c Caller, session, id string) string {
	return c.bucket + "\x00" + session + "\x00" + id
}

// track registers a live call; the returned func forgets it.
func (g *Gate) track(key string, lc *liveCall) func() {
	g.mu.Lock()
	g.live[key] = append(g.live[key], lc)
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		calls := g.live[key]
		for i, x := range calls {
			if x == lc {
				calls = append(calls[:i:i], calls[i+1:]...)
				break
			}
		}
		if len(calls) == 0 {
			delete(g.live, key)
		} else {
			g.live[key] = calls
		}
	}
}

// cancelCall applies a notifications/cancelled. A key that matches several
// calls (a caller running two sessionless clients that reuse an id) cancels
// none: their own connections still cancel them when they go away.
func (g *Gate) cancelCall(key string) bool {
	g.mu.Lock()
	calls := g.live[key]
	var lc *liveCall
	if len(calls) == 1 {
		lc = calls[0]
	}
	g.mu.Unlock()
	if lc != nil {
		lc.cancel()
	}
	return lc != nil
}

type eventsKey struct{}

// Events returns the function that writes one JSON-RPC message (a
// notification of the call) at once on the stream of the request in ctx: the
// POST's own response for streamable HTTP, the session's stream for legacy
// SSE. It writes nothing once the call is cancelled. ok is false outside a
// call the Gate admitted.
func Events(ctx context.Context) (send func(msg []byte) error, ok bool) {
	send, ok = ctx.Value(eventsKey{}).(func([]byte) error)
	return send, ok
}

// rpcCancel is what the Gate reads of a notifications/cancelled.
type rpcCancel struct {
	Params struct {
		RequestID json.RawMessage `json:"requestId"`
	} `json:"params"`
}

// cancelled handles a POSTed notifications/cancelled for session: 202, and
// the call cancelled if it is the caller's.
func (g *Gate) cancelled(w http.ResponseWriter, r *http.Request, c Caller, session string) {
	body, _ := r.Context().Value(bodyCtxKey{}).([]byte)
	var n rpcCancel
	if json.Unmarshal(body, &n) == nil {
		if id, ok := jsonrpc.Key(n.Params.RequestID); ok && g.cancelCall(callKey(c, session, id)) {
			g.log.Debug("call cancelled by the client", "caller", c.ID)
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

// postStream is the response to one POST /mcp, as mcp-go writes it through
// StreamableHTTPServer.Handle, plus the call's own events (Events). The first
// event turns the response into an event stream; a JSON answer that mcp-go
// writes after that goes out as the stream's last event. Once the call is
// cancelled nothing more is written, and the stream ends without a response.
type postStream struct {
	w http.ResponseWriter
	f http.Flusher

	mu       sync.Mutex
	started  bool // the status line is out
	sse      bool // the response is an event stream
	ours     bool // we made it one, before mcp-go wrote anything
	wrapJSON bool // mcp-go writes a JSON body into our stream: send it as an event
	inEvent  bool // that event has begun
	dropped  bool
}

var _ server.HTTPResponseWriter = (*postStream)(nil)

func newPostStream(w http.ResponseWriter) *postStream {
	f, _ := w.(http.Flusher)
	return &postStream{w: w, f: f}
}

func (p *postStream) Header() http.Header { return p.w.Header() }

func (p *postStream) CanStream() bool { return p.f != nil }

func (p *postStream) WriteHeader(code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped {
		return
	}
	if p.started {
		// Our stream is open: what mcp-go meant as a JSON answer becomes an event.
		p.wrapJSON = p.ours && !isEventStream(p.w.Header())
		return
	}
	p.started = true
	p.sse = isEventStream(p.w.Header())
	p.w.WriteHeader(code)
}

func (p *postStream) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped {
		return len(b), nil
	}
	if !p.started {
		p.started = true
		p.sse = isEventStream(p.w.Header())
	}
	if p.wrapJSON && !p.inEvent {
		if _, err := p.w.Write([]byte("event: message\ndata: ")); err != nil {
			return 0, err
		}
		p.inEvent = true
	}
	return p.w.Write(b)
}

func (p *postStream) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.dropped && p.f != nil {
		p.f.Flush()
	}
}

// event writes one message as an event, turning the response into an event
// stream first when nothing is written yet.
func (p *postStream) event(msg []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped || p.f == nil {
		return nil
	}
	if !p.started {
		h := p.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Del("Content-Length")
		p.w.WriteHeader(http.StatusOK)
		p.started, p.sse, p.ours = true, true, true
	}
	if !p.sse || p.inEvent {
		return nil // mcp-go answered already (JSON); nothing may follow
	}
	if err := writeEvent(p.w, msg); err != nil {
		return err
	}
	p.f.Flush()
	return nil
}

// drop stops all further writes: the call was cancelled.
func (p *postStream) drop() {
	p.mu.Lock()
	p.dropped = true
	p.mu.Unlock()
}

// finish ends the response once mcp-go is done with it.
func (p *postStream) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.inEvent:
		_, _ = p.w.Write([]byte("\n")) // the blank line that ends the wrapped answer
	case p.dropped && !p.started:
		// A cancelled call gets no response: an empty event stream.
		p.w.Header().Set("Content-Type", "text/event-stream")
		p.w.WriteHeader(http.StatusOK)
	}
}

func isEventStream(h http.Header) bool {
	return bytes.HasPrefix([]byte(h.Get("Content-Type")), []byte("text/event-stream"))
}

// writeEvent writes one SSE event carrying a JSON-RPC message, in one Write.
func writeEvent(w interface{ Write([]byte) (int, error) }, msg []byte) error {
	ev := make([]byte, 0, len(msg)+len("event: message\ndata: \n\n"))
	ev = append(ev, "event: message\ndata: "...)
	ev = append(ev, msg...)
	ev = append(ev, "\n\n"...)
	_, err := w.Write(ev)
	return err
}

// idString renders a decoded JSON-RPC id for logs.
func idString(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return "?"
}
