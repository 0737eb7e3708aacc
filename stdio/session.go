package stdio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/nanogpt-mcp/nanogpt-mcp/jsonrpc"
)

// session is the one client of a stdio server, as mcp-go sees it. It is a
// value of its own rather than mcp-go's package-level stdio session, so that
// two servers in one process (tests) stay apart.
type session struct {
	c *conn

	notifications chan mcp.JSONRPCNotification
	initialized   atomic.Bool
	level         atomic.Value // mcp.LoggingLevel
	info          atomic.Value // mcp.Implementation
	caps          atomic.Value // mcp.ClientCapabilities
	version       atomic.Value // string

	mu      sync.Mutex
	nextID  int64
	pending map[string]chan *rpcResponse // server-to-client requests awaiting the client's answer
}

var (
	_ server.SessionWithLogging    = (*session)(nil)
	_ server.SessionWithClientInfo = (*session)(nil)
	_ server.SessionWithRoots      = (*session)(nil)
)

func newSession(c *conn) *session {
	return &session{c: c, notifications: make(chan mcp.JSONRPCNotification, 100), pending: map[string]chan *rpcResponse{}}
}

func (s *session) SessionID() string { return "stdio" }

func (s *session) NotificationChannel() chan<- mcp.JSONRPCNotification { return s.notifications }

func (s *session) Initialize() {
	if s.level.Load() == nil {
		s.level.Store(mcp.LoggingLevelError)
	}
	s.initialized.Store(true)
}

func (s *session) Initialized() bool { return s.initialized.Load() }

func (s *session) SetLogLevel(level mcp.LoggingLevel) { s.level.Store(level) }

func (s *session) GetLogLevel() mcp.LoggingLevel {
	if l, ok := s.level.Load().(mcp.LoggingLevel); ok {
		return l
	}
	return mcp.LoggingLevelError
}

func (s *session) GetClientInfo() mcp.Implementation {
	i, _ := s.info.Load().(mcp.Implementation)
	return i
}

func (s *session) SetClientInfo(i mcp.Implementation) { s.info.Store(i) }

func (s *session) GetClientCapabilities() mcp.ClientCapabilities {
	c, _ := s.caps.Load().(mcp.ClientCapabilities)
	return c
}

func (s *session) SetClientCapabilities(c mcp.ClientCapabilities) { s.caps.Store(c) }

// ProtocolVersion and SetProtocolVersion record the negotiated version (mcp-go
// looks for them).
func (s *session) ProtocolVersion() string {
	v, _ := s.version.Load().(string)
	return v
}

func (s *session) SetProtocolVersion(v string) { s.version.Store(v) }

// ListRoots asks the client for its roots and waits for the answer.
func (s *session) ListRoots(ctx context.Context, req mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	var out mcp.ListRootsResult
	if err := s.request(ctx, string(mcp.MethodListRoots), req.Params, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// rpcResponse is the client's answer to a request of ours.
type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// request sends a request to the client and decodes its result into out.
func (s *session) request(ctx context.Context, method string, params any, out any) error {
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	ch := make(chan *rpcResponse, 1)
	s.pending["n"+strconv.FormatInt(id, 10)] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, "n"+strconv.FormatInt(id, 10))
		s.mu.Unlock()
	}()
	msg := struct {
		JSONRPC string `json:"jsonrpc"`
		ID      int64  `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
	}{mcp.JSONRPC_VERSION, id, method, params}
	if err := s.c.write(msg); err != nil {
		return fmt.Errorf("stdio: send %s: %w", method, err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.c.done:
		return errors.New("stdio: the client went away")
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("stdio: the client answered %s with error %d: %s", method, r.Error.Code, r.Error.Message)
		}
		if err := json.Unmarshal(r.Result, out); err != nil {
			return fmt.Errorf("stdio: the client's answer to %s: %w", method, err)
		}
		return nil
	}
}

// answer routes a response from the client to the request waiting for it,
// and reports whether one was.
func (s *session) answer(id json.RawMessage, line []byte) bool {
	key, _ := jsonrpc.Key(id)
	s.mu.Lock()
	ch, ok := s.pending[key]
	s.mu.Unlock()
	if !ok {
		return false
	}
	var r rpcResponse
	if err := json.Unmarshal(line, &r); err != nil {
		r.Error = &struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}{mcp.PARSE_ERROR, err.Error()}
	}
	select {
	case ch <- &r:
	default:
	}
	return true
}
