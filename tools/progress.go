package tools

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// progressInterval is the least time between two progress notifications
// (about 10 a second at most).
const progressInterval = 100 * time.Millisecond

// progress sends throttled notifications/progress for one call. Nothing the
// client needs depends on them: a dropped notification loses only a hint.
type progress struct {
	ctx    context.Context
	notify func(method string, params map[string]any) error
	token  mcp.ProgressToken

	mu    sync.Mutex
	n     float64
	last  time.Time // when the last notification went out
	msg   string    // and what it said
	start time.Time
}

// defaultHeartbeat is how often a long call says it is still working.
const defaultHeartbeat = 5 * time.Second

type notifierKey struct{}

// WithNotifier returns a context in which the tools send the notifications
// of a call (its progress) through send. A transport sets it when it can
// write a message at once on the stream that will carry the call's result:
// the notifications then arrive before the result, where clients look for
// them. Without it they go through mcp-go's session queue, which a separate
// goroutine writes, sometimes after the result.
func WithNotifier(ctx context.Context, send func(msg any) error) context.Context {
	return context.WithValue(ctx, notifierKey{}, send)
}

// newProgress returns nil when the client sent no progress token.
func newProgress(ctx context.Context, req mcp.CallToolRequest) *progress {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	p := &progress{ctx: ctx, token: req.Params.Meta.ProgressToken}
	if send, ok := ctx.Value(notifierKey{}).(func(any) error); ok {
		p.notify = func(method string, params map[string]any) error {
			return send(mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION,
				Notification: mcp.Notification{Method: method, Params: mcp.NotificationParams{AdditionalFields: params}}})
		}
	} else if srv := server.ServerFromContext(ctx); srv != nil {
		p.notify = func(method string, params map[string]any) error {
			return srv.SendNotificationToClient(ctx, method, params)
		}
	} else {
		return nil
	}
	p.start = time.Now()
	p.last = p.start
	return p
}

// report sends message unless one went out less than progressInterval ago
// (force sends regardless). Safe on a nil *progress.
func (p *progress) report(message string, force bool) {
	if p == nil {
		return
	}
	p.send(message, force, false)
}

// send sends one notification. A heartbeat does not replace the message that
// later heartbeats repeat.
func (p *progress) send(message string, force, beat bool) {
	p.mu.Lock()
	now := time.Now()
	if !force && now.Sub(p.last) < progressInterval {
		p.mu.Unlock()
		return
	}
	p.last = now
	if !beat {
		p.msg = message
	}
	p.n++
	n := p.n
	p.mu.Unlock()
	// Dropped when the session's queue is full (mcp-go does not block): a lost
	// notification loses only a hint.
	_ = p.notify(string(mcp.MethodNotificationProgress), map[string]any{
		"progressToken": p.token, "progress": n, "message": message,
	})
}

// heartbeat sends a progress notification whenever every has passed without
// one (0 means defaultHeartbeat), so that clients which reset their timeout on
// progress keep waiting for a long call. It returns the function that stops it;
// that function waits until it has stopped. Safe on a nil *progress.
func (p *progress) heartbeat(every time.Duration) (stop func()) {
	if p == nil {
		return func() {}
	}
	if every <= 0 {
		every = defaultHeartbeat
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		timer := time.NewTimer(every)
		defer timer.Stop()
		for {
			select {
			case <-done:
				return
			case <-p.ctx.Done():
				return
			case <-timer.C:
			}
			p.mu.Lock()
			idle, msg, elapsed := time.Since(p.last), p.msg, time.Since(p.start).Round(time.Second)
			p.mu.Unlock()
			if idle < every {
				timer.Reset(every - idle)
				continue
			}
			text := fmt.Sprintf("still working (%s elapsed)", elapsed)
			if msg != "" {
				text = fmt.Sprintf("still working (%s elapsed; last: %s)", elapsed, msg)
			}
			p.send(text, true, true)
			timer.Reset(every)
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
