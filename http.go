package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/nanogpt-mcp/nanogpt-mcp/hosting"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// hostingConfig holds the settings of the HTTP transports (docs/HOSTING.md).
type hostingConfig struct {
	tokens            []string // access tokens; never print them
	allowNoAuth       bool
	keyMode           string // server | caller
	tokenHeader       string
	origins           []string
	hosts             []string
	publicURL         string
	maxBody           int64
	rateLimit         int
	maxConcurrent     int
	stateless         bool
	shutdownTimeout   time.Duration
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	serverKeyIgnored  bool // caller mode dropped NANOGPT_API_KEY

	// raw values, parsed by check
	tokensFlag, originsFlag, hostsFlag csvFlag
	tokensEnv, originsEnv, hostsEnv    string
	maxBodyS, rateS, concS             string
	shutdownS, readHeaderS, idleS      string
	envErr                             error
}

// String describes the settings without the tokens.
func (h hostingConfig) String() string {
	return fmt.Sprintf("key_mode=%s access_tokens=%d token_header=%s allowed_origins=%v allowed_hosts=%v stateless=%v max_body=%d rate_limit=%d max_concurrent=%d shutdown_timeout=%s",
		h.keyMode, len(h.tokens), h.tokenHeader, h.origins, h.hosts, h.stateless, h.maxBody, h.rateLimit, h.maxConcurrent, h.shutdownTimeout)
}

// GoString keeps the tokens out of %#v too.
func (h hostingConfig) GoString() string { return h.String() }

// csvFlag is a repeatable flag whose environment twin is a comma-separated
// list. It never prints its values (they may be tokens).
type csvFlag struct {
	vals []string
	set  bool
}

func (c *csvFlag) String() string { return "" }
func (c *csvFlag) Set(v string) error {
	c.vals, c.set = append(c.vals, splitList(v)...), true
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// addFlags registers the hosting flags; env(name, def) reads an environment twin.
func (h *hostingConfig) addFlags(fs *flag.FlagSet, env func(name, def string) string) {
	envBool := func(name string) bool {
		v := env(name, "false")
		b, err := strconv.ParseBool(v)
		if err != nil {
			h.envErr = errors.Join(h.envErr, fmt.Errorf("$%s: %q is not a boolean (true or false)", name, v))
		}
		return b
	}
	h.tokensEnv = env("NANOGPT_MCP_AUTH_TOKENS", "")
	h.originsEnv = env("NANOGPT_MCP_ALLOWED_ORIGINS", "")
	h.hostsEnv = env("NANOGPT_MCP_ALLOWED_HOSTS", "")
	fs.Var(&h.tokensFlag, "auth-token", "`token` a caller must present to use the HTTP transports (repeatable; the environment twin is a comma-separated list, and is the better place: command lines are visible to other local users). At least 16 characters, e.g. openssl rand -hex 32. Without any, only a loopback --addr may be used, unless --allow-no-auth [$NANOGPT_MCP_AUTH_TOKENS]")
	fs.BoolVar(&h.allowNoAuth, "allow-no-auth", envBool("NANOGPT_MCP_ALLOW_NO_AUTH"), "serve a non-loopback --addr without access tokens: only when something in front (a proxy, a private network) authenticates callers [$NANOGPT_MCP_ALLOW_NO_AUTH]")
	fs.StringVar(&h.keyMode, "key-mode", env("NANOGPT_MCP_KEY_MODE", "server"), "`server|caller`: whose NanoGPT key pays. server: NANOGPT_API_KEY from the environment, for every caller. caller: each request carries the caller's own key in Authorization: Bearer or x-api-key, and only that key is used (NANOGPT_API_KEY is ignored); requests without one get 401 [$NANOGPT_MCP_KEY_MODE]")
	fs.StringVar(&h.tokenHeader, "access-token-header", env("NANOGPT_MCP_ACCESS_TOKEN_HEADER", ""), "`header` that carries the access token. Default: Authorization (as Bearer) with --key-mode server; X-MCP-Access-Token with --key-mode caller, where Authorization carries the caller's key [$NANOGPT_MCP_ACCESS_TOKEN_HEADER]")
	fs.Var(&h.originsFlag, "allowed-origin", "browser `origin` (scheme://host[:port]) allowed to call besides loopback origins, or * for any (repeatable; comma-separated twin). Requests with any other Origin header get 403; requests without one (non-browser clients) are unaffected [$NANOGPT_MCP_ALLOWED_ORIGINS]")
	fs.Var(&h.hostsFlag, "allowed-host", "`host` or host:port a request's Host header may name (repeatable; comma-separated twin). Without any: on a loopback address only loopback names are accepted (DNS-rebinding protection), elsewhere any. With some: loopback names and these only. Set it to your public name behind a reverse proxy that keeps Host [$NANOGPT_MCP_ALLOWED_HOSTS]")
	fs.StringVar(&h.publicURL, "public-url", env("NANOGPT_MCP_PUBLIC_URL", ""), "`URL` clients reach this server at, when a proxy serves it under a path prefix (e.g. https://tools.example.com/nanogpt); legacy SSE clients are told to post messages there. Default: relative to the request [$NANOGPT_MCP_PUBLIC_URL]")
	fs.StringVar(&h.maxBodyS, "max-body", env("NANOGPT_MCP_MAX_BODY", "16MiB"), "`size` cap on one request body, e.g. 16MiB or 1048576; larger requests get 413. The default fits a 10 MiB image sent as a data: URL [$NANOGPT_MCP_MAX_BODY]")
	fs.StringVar(&h.rateS, "rate-limit", env("NANOGPT_MCP_RATE_LIMIT", "60"), "`n` tool calls per minute per caller (bursts up to n, refilled continuously); more get 429 with Retry-After. 0 turns it off. A caller is their key (--key-mode caller), else their access token, else their address [$NANOGPT_MCP_RATE_LIMIT]")
	fs.StringVar(&h.concS, "max-concurrent", env("NANOGPT_MCP_MAX_CONCURRENT", "8"), "`n` tool calls one caller may have in flight; more get 429 with Retry-After. 0 turns it off [$NANOGPT_MCP_MAX_CONCURRENT]")
	fs.BoolVar(&h.stateless, "stateless", envBool("NANOGPT_MCP_STATELESS"), "streamable HTTP without sessions: any replica answers any request, so several replicas can run behind a plain round-robin load balancer (legacy SSE still needs sticky sessions) [$NANOGPT_MCP_STATELESS]")
	fs.StringVar(&h.shutdownS, "shutdown-timeout", env("NANOGPT_MCP_SHUTDOWN_TIMEOUT", "30s"), "`duration` in-flight calls get to finish after SIGTERM before they are cancelled; keep it below your orchestrator's grace period [$NANOGPT_MCP_SHUTDOWN_TIMEOUT]")
	fs.StringVar(&h.readHeaderS, "read-header-timeout", env("NANOGPT_MCP_READ_HEADER_TIMEOUT", "10s"), "`duration` a client may take to send request headers (slow clients are cut off) [$NANOGPT_MCP_READ_HEADER_TIMEOUT]")
	fs.StringVar(&h.idleS, "idle-timeout", env("NANOGPT_MCP_IDLE_TIMEOUT", "2m"), "`duration` an idle keep-alive connection stays open; keep it above your load balancer's idle timeout [$NANOGPT_MCP_IDLE_TIMEOUT]")
}

// check validates the hosting settings against the rest of the configuration.
func (h *hostingConfig) check(cfg *config) error {
	if h.envErr != nil {
		return h.envErr
	}
	pick := func(f csvFlag, env string) []string {
		if f.set {
			return f.vals
		}
		return splitList(env)
	}
	h.tokens = pick(h.tokensFlag, h.tokensEnv)
	h.origins = pick(h.originsFlag, h.originsEnv)
	h.hosts = pick(h.hostsFlag, h.hostsEnv)
	var err error
	switch h.keyMode {
	case "server", "caller":
	default:
		return fmt.Errorf("--key-mode: %q is not allowed (allowed: server, caller)", h.keyMode)
	}
	if h.maxBody, err = parseSize(h.maxBodyS); err != nil || h.maxBody < 1024 {
		return fmt.Errorf("--max-body: %q is not a size of at least 1KiB, such as 16MiB", h.maxBodyS)
	}
	if h.rateLimit, err = strconv.Atoi(h.rateS); err != nil || h.rateLimit < 0 {
		return fmt.Errorf("--rate-limit: %q is not a whole number of calls per minute (0: no limit)", h.rateS)
	}
	if h.maxConcurrent, err = strconv.Atoi(h.concS); err != nil || h.maxConcurrent < 0 {
		return fmt.Errorf("--max-concurrent: %q is not a whole number (0: no limit)", h.concS)
	}
	for _, d := range []struct {
		flag, v string
		to      *time.Duration
	}{{"--shutdown-timeout", h.shutdownS, &h.shutdownTimeout}, {"--read-header-timeout", h.readHeaderS, &h.readHeaderTimeout}, {"--idle-timeout", h.idleS, &h.idleTimeout}} {
		if *d.to, err = positiveDuration(d.flag, d.v); err != nil {
			return err
		}
	}
	if cfg.transport == "stdio" {
		if h.keyMode == "caller" {
			return errors.New("--key-mode caller needs --transport http or sse (over stdio the key comes from NANOGPT_API_KEY)")
		}
		return nil
	}
	if h.tokenHeader == "" {
		h.tokenHeader = "Authorization"
		if h.keyMode == "caller" {
			h.tokenHeader = "X-MCP-Access-Token"
		}
	}
	for _, t := range h.tokens {
		if err := hosting.CheckToken(t); err != nil {
			return fmt.Errorf("--auth-token: %w", err)
		}
	}
	if err := (hosting.Options{TokenHeader: h.tokenHeader}).Validate(); err != nil {
		return fmt.Errorf("--access-token-header: %w", err)
	}
	if err := (hosting.Options{AllowedOrigins: h.origins}).Validate(); err != nil {
		return fmt.Errorf("--allowed-origin: %w", err)
	}
	if err := (hosting.Options{AllowedHosts: h.hosts}).Validate(); err != nil {
		return fmt.Errorf("--allowed-host: %w", err)
	}
	if h.publicURL != "" {
		u, err := url.Parse(h.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return fmt.Errorf("--public-url: %q is not an http(s) URL without a query", h.publicURL)
		}
	}
	host, _, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return fmt.Errorf("--addr: %q is not host:port", cfg.addr)
	}
	if len(h.tokens) == 0 && !h.allowNoAuth && !hosting.IsLoopbackHost(host) {
		return fmt.Errorf("refusing to serve %s without access control: anyone who can reach it could use the server. Set NANOGPT_MCP_AUTH_TOKENS (or --auth-token), or pass --allow-no-auth if a proxy or private network in front authenticates callers (docs/HOSTING.md)", cfg.addr)
	}
	if h.keyMode == "caller" && cfg.apiKey != "" {
		// Structurally impossible to spend the server's key for a caller.
		cfg.apiKey, h.serverKeyIgnored = "", true
	}
	return nil
}

// callerKeys reports whether each caller pays with their own key.
func (h hostingConfig) callerKeys() bool { return h.keyMode == "caller" }

// parseSize reads 1048576, 512KiB, 16MiB, 1GiB (also KB, MB, GB, k, M, G as
// powers of 1024: a cap, not a billing unit).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

type callerKeyCtx struct{}

// callerKey returns the NanoGPT key a hosted caller sent with this request,
// when the server runs with per-caller keys. ok is true for every request in
// that mode, even with an empty key, so the server's own key is never used in
// its place (the tool then answers that no key is configured; in practice the
// hosting layer has already refused such a request with 401).
func callerKey(ctx context.Context) (string, bool) {
	k, ok := ctx.Value(callerKeyCtx{}).(string)
	return k, ok
}

// serveHTTP serves the HTTP transports until ctx ends, then shuts down.
func serveHTTP(ctx context.Context, cfg config, s *server.MCPServer, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	h, err := newHTTPHost(cfg, s, logger)
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

func newHTTPHost(cfg config, s *server.MCPServer, logger *slog.Logger) (*httpHost, error) {
	hc := cfg.hosting
	serverKey := cfg.apiKey != ""
	gate, err := hosting.New(hosting.Options{
		Tokens:         hc.tokens,
		TokenHeader:    hc.tokenHeader,
		CallerKeys:     hc.callerKeys(),
		AllowedOrigins: hc.origins,
		AllowedHosts:   hc.hosts,
		MaxBody:        hc.maxBody,
		RateLimit:      hc.rateLimit,
		MaxConcurrent:  hc.maxConcurrent,
		KeepAlive:      30 * time.Second,
		Logger:         logger,
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

	// The Gate has authenticated the request; this hands the caller's key to
	// the tools (per POST for SSE, per request for streamable HTTP).
	// It also hands the tools the call's own event writer, so that its
	// progress goes out before its result, on the stream that carries it.
	withKey := func(ctx context.Context, r *http.Request) context.Context {
		if send, ok := hosting.Events(r.Context()); ok {
			ctx = tools.WithNotifier(ctx, func(msg any) error {
				b, err := json.Marshal(msg)
				if err != nil {
					return err
				}
				return send(b)
			})
		}
		if !hc.callerKeys() {
			return ctx
		}
		c, _ := hosting.CallerFrom(r.Context())
		return context.WithValue(ctx, callerKeyCtx{}, c.Key)
	}
	// mcp-go's own DNS-rebinding checks are off: the Gate applies the same
	// rule, plus --allowed-host, before any handler runs.
	sseOpts := []server.SSEOption{
		server.WithSSEContextFunc(withKey),
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
	if cfg.transport == "http" {
		shOpts := []server.StreamableHTTPOption{
			server.WithHTTPContextFunc(withKey),
			server.WithDisableLocalhostProtection(true),
			server.WithStreamableHTTPLogger(logger),
		}
		if hc.stateless {
			// No session ids, and no standalone GET stream (it would tie a
			// client to one replica): every POST stands alone.
			shOpts = append(shOpts, server.WithStateLess(true), server.WithDisableStreaming(true))
		} else {
			shOpts = append(shOpts, server.WithSessionIdleTTL(30*time.Minute))
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
