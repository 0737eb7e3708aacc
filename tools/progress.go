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
	ctx   context.Context
	srv   *server.MCPServer
	token mcp.ProgressToken

	mu    sync.Mutex
	n     float64
	last  time.Time // when the last notification went out
	msg   string    // and what it said
	start time.Time
}

// defaultHeartbeat is how often a long call says it is still working.
const defaultHeartbeat = 5 * time.Second

// newProgress returns nil when the client sent no progress token.
func newProgress(ctx context.Context, req mcp.CallToolRequest) *progress {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return nil
	}
	now := time.Now()
	return &progress{ctx: ctx, srv: srv, token: req.Params.Meta.ProgressToken, last: now, start: now}
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
	_ = p.srv.SendNotificationToClient(p.ctx, string(mcp.MethodNotificationProgress), map[string]any{
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
