// Package stdio serves an mcp-go MCPServer over a pair of byte streams (the
// process's stdin and stdout): one JSON-RPC message per line.
//
// It replaces mcp-go's StdioServer, which it drives through
// MCPServer.HandleMessage, for what that loop gets wrong (see
// docs/ARCHITECTURE.md, "mcp-go workarounds"):
//   - a call still waiting for a worker sees its cancellation and never runs;
//   - a cancelled call gets no response (the spec says it SHOULD NOT);
//   - a call's notifications are written before its response, on the spot,
//     instead of by a goroutine that may write them after it;
//   - a large data: URL in a tool call is not copied through every parse
//     (blobs.go);
//   - a request id that is neither a string nor an integer is refused.
package stdio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/nanogpt-mcp/nanogpt-mcp/jsonrpc"
)

// Options configures Serve.
type Options struct {
	// Workers is how many tool calls run at once (default 32); more wait
	// for a free worker, and see their cancellation while they wait.
	Workers int
	// MaxQueued is how many tool calls may wait (default 1000); more are
	// refused with a JSON-RPC error.
	MaxQueued int
	// Logger receives what goes wrong with the stream (default: discard).
	Logger *slog.Logger
	// Request, when set, decorates the context of every request. send
	// writes one JSON-RPC message (a notification) to the client at once,
	// so that it arrives before the request's response; once the request is
	// cancelled it writes nothing.
	Request func(ctx context.Context, send func(msg any) error) context.Context
}

// Serve serves s over in and out until in ends (nil) or ctx ends (ctx's
// error). Calls still running are then cancelled and waited for.
func Serve(ctx context.Context, s *server.MCPServer, in io.Reader, out io.Writer, o Options) error {
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &conn{srv: s, opts: o, out: out, log: o.Logger, done: make(chan struct{}),
		inflight: map[string]*call{}, workers: make(chan struct{}, o.Workers)}
	c.sess = newSession(c)
	if err := s.RegisterSession(ctx, c.sess); err != nil {
		return fmt.Errorf("stdio: register session: %w", err)
	}
	defer s.UnregisterSession(context.WithoutCancel(ctx), c.sess.SessionID())
	base, cancel := context.WithCancel(s.WithContext(ctx, c.sess))
	defer cancel()
	c.wg.Go(func() { c.forward(base) })

	readErr := make(chan error, 1)
	go func() { readErr <- c.read(base, in) }() // blocks in Read until in ends; it is not waited for
	var err error
	select {
	case err = <-readErr:
	case <-ctx.Done():
		err = ctx.Err()
	}
	close(c.done)
	cancel()
	c.wg.Wait()
	return err
}

// conn is one served stream.
type conn struct {
	srv  *server.MCPServer
	opts Options
	sess *session
	log  *slog.Logger
	done chan struct{} // closed when the input has ended

	wmu sync.Mutex
	out io.Writer

	mu       sync.Mutex
	inflight map[string]*call // requests read and not yet answered, by id
	workers  chan struct{}    // a slot per running tool call
	queued   atomic.Int64     // tool calls waiting for a slot
	wg       sync.WaitGroup
}

// call is a request in flight.
type call struct {
	cancel    context.CancelFunc
	cancelled atomic.Bool // by the client: nothing more is written for it
}

// maxLine caps one message. Larger lines are refused, not allocated.
const maxLine = 256 << 20

// read reads messages until in ends.
func (c *conn) read(ctx context.Context, in io.Reader) error {
	r := newReader(in, maxLine)
	for {
		msg, err := r.next()
		if len(bytes.TrimSpace(msg.line)) > 0 {
			c.dispatch(ctx, msg)
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, errLineTooLong):
			c.log.Warn("stdio: a message longer than the limit was skipped", "limit", maxLine)
			c.writeError(nil, mcp.INVALID_REQUEST, fmt.Sprintf("message longer than %d bytes", maxLine))
		case err != nil:
			return fmt.Errorf("stdio: read: %w", err)
		}
	}
}

// envelope is what dispatch reads of a message.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func (c *conn) dispatch(ctx context.Context, msg message) {
	line := bytes.TrimSpace(msg.line)
	var env envelope
	if line[0] != '{' || json.Unmarshal(line, &env) != nil {
		if line[0] == '[' {
			c.writeError(nil, mcp.INVALID_REQUEST, "JSON-RPC batches are not supported")
			return
		}
		c.writeError(nil, mcp.PARSE_ERROR, "Parse error")
		return
	}
	hasID := len(env.ID) > 0
	switch {
	case env.Method == "" && hasID: // the client's answer to a request of ours
		if !c.sess.answer(env.ID, line) {
			c.log.Debug("stdio: a response to no request of ours was dropped")
		}
	case env.Method == "" || !hasID:
		c.notification(ctx, env, line)
	default:
		c.request(ctx, env, msg)
	}
}

// notification handles a notification inline, as mcp-go does. A cancellation
// is ours to apply: mcp-go knows only calls a worker has started.
func (c *conn) notification(ctx context.Context, env envelope, line []byte) {
	if env.Method == string(mcp.MethodNotificationCancelled) {
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(env.Params, &p) == nil {
			if key, ok := jsonrpc.Key(p.RequestID); ok {
				c.mu.Lock()
				cl := c.inflight[key]
				c.mu.Unlock()
				if cl != nil {
					cl.cancelled.Store(true)
					cl.cancel()
				}
			}
		}
		return
	}
	c.handle(ctx, nil, line)
}

// request starts a request: tool calls on a worker, anything else at once.
func (c *conn) request(ctx context.Context, env envelope, msg message) {
	key, ok := jsonrpc.Key(env.ID)
	if !ok {
		c.writeError(nil, mcp.INVALID_REQUEST, "invalid request: the id must be a string or an integer")
		return
	}
	id := jsonrpc.Value(env.ID)
	isCall := env.Method == string(mcp.MethodToolsCall)
	if isCall && c.queued.Load() >= int64(c.opts.MaxQueued) {
		c.writeError(id, mcp.INTERNAL_ERROR, "server busy: too many tool calls are waiting; try again shortly")
		return
	}
	c.mu.Lock()
	if c.inflight[key] != nil {
		c.mu.Unlock()
		c.writeError(id, mcp.INVALID_REQUEST, "invalid request: a request with this id is still in flight")
		return
	}
	cctx, cancel := context.WithCancel(ctx)
	cl := &call{cancel: cancel}
	c.inflight[key] = cl
	c.mu.Unlock()
	if len(msg.blobs) > 0 {
		cctx = withBlobs(cctx, msg.blobs)
	}
	if c.opts.Request != nil {
		cctx = c.opts.Request(cctx, func(m any) error {
			if cl.cancelled.Load() {
				return nil
			}
			return c.write(m)
		})
	}
	if isCall {
		c.queued.Add(1)
	}
	c.wg.Go(func() {
		defer func() {
			c.mu.Lock()
			delete(c.inflight, key)
			c.mu.Unlock()
			cancel()
		}()
		if isCall {
			select {
			case c.workers <- struct{}{}:
				c.queued.Add(-1)
				defer func() { <-c.workers }()
			case <-cctx.Done(): // cancelled while waiting: it never runs
				c.queued.Add(-1)
				return
			}
			if cctx.Err() != nil {
				return
			}
		}
		resp := c.handle(cctx, id, msg.line)
		if resp != nil && !cl.cancelled.Load() {
			if err := c.write(resp); err != nil {
				c.log.Warn("stdio: write response", "err", err)
			}
		}
	})
}

// handle runs one message through mcp-go, turning a panic into an internal
// error response (for a request) instead of a dead process.
func (c *conn) handle(ctx context.Context, id any, line []byte) (resp mcp.JSONRPCMessage) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("stdio: panic while handling a message", "panic", r)
			if id != nil {
				resp = errorResponse(id, mcp.INTERNAL_ERROR, fmt.Sprintf("internal error: %v", r))
			}
		}
	}()
	return c.srv.HandleMessage(ctx, line)
}

// forward writes the notifications mcp-go itself sends to the session (not
// tied to a call, so their order does not matter).
func (c *conn) forward(ctx context.Context) {
	for {
		select {
		case n := <-c.sess.notifications:
			if err := c.write(n); err != nil {
				c.log.Warn("stdio: write notification", "err", err)
			}
		case <-ctx.Done():
			return
		}
	}
}

// write writes one message and its newline in a single Write: encoding into
// one buffer, not through fmt, so a large result is not copied again.
func (c *conn) write(msg any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return json.NewEncoder(c.out).Encode(msg)
}

func (c *conn) writeError(id any, code int, text string) {
	if err := c.write(errorResponse(id, code, text)); err != nil {
		c.log.Warn("stdio: write error response", "err", err)
	}
}

func errorResponse(id any, code int, text string) mcp.JSONRPCError {
	return mcp.JSONRPCError{JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(id), Error: mcp.NewJSONRPCErrorDetails(code, text, nil)}
}

// reader splits the input into lines.
type reader struct {
	br  *bufio.Reader
	max int
}

func newReader(in io.Reader, max int) *reader { return newReaderSize(in, max, 64<<10) }

func newReaderSize(in io.Reader, max, size int) *reader {
	return &reader{br: bufio.NewReaderSize(in, size), max: max}
}

var errLineTooLong = errors.New("line too long")
