package tools

import (
	"context"
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

	mu   sync.Mutex
	n    float64
	last time.Time
}

// newProgress returns nil when the client sent no progress token.
func newProgress(ctx context.Context, req mcp.CallToolRequest) *progress {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return nil
	}
	return &progress{ctx: ctx, srv: srv, token: req.Params.Meta.ProgressToken}
}

// report sends message unless one went out less than progressInterval ago
// (force sends regardless). Safe on a nil *progress.
func (p *progress) report(message string, force bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	now := time.Now()
	if !force && now.Sub(p.last) < progressInterval {
		p.mu.Unlock()
		return
	}
	p.last = now
	p.n++
	n := p.n
	p.mu.Unlock()
	_ = p.srv.SendNotificationToClient(p.ctx, string(mcp.MethodNotificationProgress), map[string]any{
		"progressToken": p.token, "progress": n, "message": message,
	})
}
