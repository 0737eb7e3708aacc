package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// serveHTTP serves the HTTP transports until ctx ends, then shuts down.
func serveHTTP(ctx context.Context, cfg config, s *server.MCPServer, logger *slog.Logger) error {
	mux := http.NewServeMux()
	sse := server.NewSSEServer(s)
	if cfg.transport == "http" {
		mux.Handle("/mcp", server.NewStreamableHTTPServer(s))
	}
	mux.Handle("/sse", sse.SSEHandler())
	mux.Handle("/message", sse.MessageHandler())
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("listening", "addr", ln.Addr().String(), "transport", cfg.transport)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sse.CloseSessions()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// hostingConfig holds the settings of the HTTP transports.
type hostingConfig struct{}

// addFlags registers the hosting flags; env(name, def) reads an environment twin.
func (h *hostingConfig) addFlags(fs *flag.FlagSet, env func(name, def string) string) {}

// check validates the hosting settings against the rest of the configuration.
func (h *hostingConfig) check(cfg *config) error { return nil }

// callerKey returns the NanoGPT key a hosted caller sent with this request, when
// the server runs with per-caller keys.
func callerKey(ctx context.Context) (string, bool) { return "", false }
