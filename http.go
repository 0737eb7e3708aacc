package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/nanogpt-mcp/nanogpt-mcp/hosting"
	"github.com/nanogpt-mcp/nanogpt-mcp/media"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// serveHTTP serves the HTTP transports until ctx ends, then shuts down.
func serveHTTP(ctx context.Context, cfg config, s *server.MCPServer, store *media.Store, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	h, err := newHTTPHost(cfg, s, store, logger)
	if err != nil {
		ln.Close()
		return err
	}
	return h.serve(ctx, ln)
}

// httpHost is the hosted server: mcp-go's transports behind a hosting.Gate.
type httpHost struct {
	cfg  config
	gate *hosting.Gate
	sse  *server.SSEServer
	sh   *server.StreamableHTTPServer // nil with --transport sse
	hs   *http.Server
	log  *slog.Logger
}

func newHTTPHost(cfg config, s *server.MCPServer, store *media.Store, logger *slog.Logger) (*httpHost, error) {
	hc := cfg.hosting
	serverKey := cfg.apiKey != ""
	gate, err := hosting.New(hosting.Options{
		Tokens:               hc.tokens,
		TokenHeader:          hc.tokenHeader,
		CallerKeys:           hc.callerKeys(),
		AllowedOrigins:       hc.origins,
		AllowedHosts:         hc.hosts,
		MaxBody:              hc.maxBody,
		BodyReadTimeout:      hc.readTimeout,
		MaxBodies:            hc.maxBodies,
		RateLimit:            hc.rateLimit,
		MaxConcurrent:        hc.maxConcurrent,
		MaxSessions:          hc.maxSessions,
		MaxSessionsPerCaller: hc.maxSessionsPerCaller,
		SessionIdleTimeout:   hc.sessionIdleTimeout,
		Stateless:            hc.stateless,
		KeepAlive:            30 * time.Second,
		Logger:               logger,
		Ready: func() error {
			if !hc.callerKeys() && !serverKey {
				return errors.New("NANOGPT_API_KEY is not set")
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	h := &httpHost{cfg: cfg, gate: gate, log: logger}
	s.Use(h.toolMiddleware)

	// The tools get the call's own event writer, so that its progress goes
	// out before its result, on the stream that carries it, and the address
	// under which the media store's links are served. (The caller the Gate
	// authenticated is in the context already: hosting.CallerFrom.)
	withEvents := func(ctx context.Context, r *http.Request) context.Context {
		ctx = tools.WithLinkBase(ctx, publicBase(hc.publicURL, r))
		send, ok := hosting.Events(r.Context())
		if !ok {
			return ctx
		}
		return tools.WithNotifier(ctx, func(msg any) error {
			b, err := json.Marshal(msg)
			if err != nil {
				return err
			}
			return send(b)
		})
	}
	// mcp-go's own DNS-rebinding checks are off: the Gate applies the same
	// rule, plus --allowed-host, before any handler runs.
	sseOpts := []server.SSEOption{
		server.WithSSEContextFunc(withEvents),
		server.WithSessionIDGenerator(gate.SSESessionID),
		server.WithSSEDisableLocalhostProtection(true),
		// No server.WithKeepAliveInterval: its pings are JSON-RPC requests whose
		// ids clients can mistake for answers; the Gate sends SSE comments.
	}
	if hc.publicURL != "" {
		sseOpts = append(sseOpts, server.WithBaseURL(hc.publicURL))
	}
	h.sse = server.NewSSEServer(s, sseOpts...)
	endpoints := hosting.Endpoints{SSE: h.sse.SSEHandler(), Message: h.sse.MessageHandler()}
	if store != nil {
		endpoints.Media = store
	}
	if cfg.transport == "http" {
		shOpts := []server.StreamableHTTPOption{
			server.WithHTTPContextFunc(withEvents),
			server.WithDisableLocalhostProtection(true),
			server.WithStreamableHTTPLogger(logger),
		}
		if hc.stateless {
			// No session ids, and no standalone GET stream (it would tie a
			// client to one replica): every POST stands alone.
			shOpts = append(shOpts, server.WithStateLess(true), server.WithDisableStreaming(true))
		} else {
			// Sessions are the Gate's: bounded, and bound to their caller.
			shOpts = append(shOpts, server.WithSessionIdManagerResolver(gate.SessionIDs()), server.WithSessionIdleTTL(hc.sessionIdleTimeout))
		}
		h.sh = server.NewStreamableHTTPServer(s, shOpts...)
		endpoints.Streamable = h.sh
	}
	h.hs = &http.Server{
		Handler:           gate.Handler(endpoints),
		ReadHeaderTimeout: hc.readHeaderTimeout,
		IdleTimeout:       hc.idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return h, nil
}

// publicBase is where clients reach this server: --public-url, else the
// request's own host (https when a proxy in front says so).
func publicBase(publicURL string, r *http.Request) string {
	if publicURL != "" {
		return publicURL
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// toolMiddleware ties each call to its SSE stream (a client that goes away
// cancels its calls) and logs who called what, by a hash of the caller only.
func (h *httpHost) toolMiddleware(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ctx, cancel := hosting.BindCall(ctx)
		defer cancel()
		start := time.Now()
		res, err := next(ctx, req)
		c, _ := hosting.CallerFrom(ctx)
		h.log.Info("tool call", "tool", req.Params.Name, "caller", c.ID, "duration", time.Since(start).Round(time.Millisecond),
			"is_error", err != nil || res != nil && res.IsError, "cancelled", ctx.Err() != nil)
		return res, err
	}
}

// serve serves on ln until ctx ends, then drains: new requests are refused,
// in-flight calls get --shutdown-timeout to finish (SSE answers included),
// then the streams are closed and the server stops.
func (h *httpHost) serve(ctx context.Context, ln net.Listener) error {
	hc := h.cfg.hosting
	paths := "/sse, /message"
	if h.sh != nil {
		paths = "/mcp, " + paths
	}
	auth := fmt.Sprintf("%d access token(s) in %s", len(hc.tokens), hc.tokenHeader)
	if len(hc.tokens) == 0 {
		auth = "none"
	}
	h.log.Info("listening", "addr", ln.Addr().String(), "transport", h.cfg.transport, "paths", paths,
		"access_tokens", auth, "key_mode", hc.keyMode, "stateless", hc.stateless,
		"rate_limit_per_min", hc.rateLimit, "max_concurrent", hc.maxConcurrent, "max_body", hc.maxBody)
	if len(hc.tokens) == 0 {
		if host, _, _ := net.SplitHostPort(h.cfg.addr); !hosting.IsLoopbackHost(host) {
			h.log.Warn("serving a non-loopback address without access tokens (--allow-no-auth): whatever is in front must authenticate callers")
		}
	}
	if hc.serverKeyIgnored {
		h.log.Info("NANOGPT_API_KEY is set but not used: --key-mode caller spends each caller's own key")
	}
	errc := make(chan error, 1)
	go func() { errc <- h.hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}

	h.log.Info("shutting down: finishing in-flight calls", "in_flight", h.gate.InFlight(), "timeout", hc.shutdownTimeout)
	h.gate.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), hc.shutdownTimeout)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- h.hs.Shutdown(sctx) }() // stops accepting now
	if err := h.gate.Wait(sctx); err != nil {
		h.log.Warn("shutdown timeout reached: cancelling the calls still running", "in_flight", h.gate.InFlight())
		h.gate.Abort()
		grace, cancelGrace := context.WithTimeout(context.Background(), time.Second)
		_ = h.gate.Wait(grace)
		cancelGrace()
	}
	h.sse.CloseSessions()
	if h.sh != nil {
		_ = h.sh.Shutdown(sctx) // closes GET streams, stops the session sweeper
	}
	if err := <-shut; err != nil {
		h.log.Warn("connections still open at the shutdown timeout; closing them", "err", err)
		_ = h.hs.Close()
	}
	<-errc // Serve has returned http.ErrServerClosed
	h.log.Info("stopped")
	return nil
}
