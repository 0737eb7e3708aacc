// Command nanogpt-mcp is an MCP server for the NanoGPT API: chat, images,
// speech and transcription, over stdio, SSE or streamable HTTP.
package main

// docs/TOOLS.md and docs/CONFIGURATION.md are generated from the tools and the options table.
//go:generate go test . -run TestDocs -update-docs

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/nanogpt-mcp/nanogpt-mcp/hosting"
	"github.com/nanogpt-mcp/nanogpt-mcp/media"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/stdio"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "nanogpt-mcp:", err)
		os.Exit(1)
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// instructions tell the assistant what the server offers, from the tools' specs.
func instructions() string {
	var b strings.Builder
	b.WriteString("Tools for the NanoGPT API.")
	for _, s := range tools.Specs() {
		b.WriteString(" " + s.Name + ": " + s.Summary + ".")
	}
	b.WriteString(" Calls are paid from the NanoGPT balance of the key in use.")
	return b.String()
}

// maxTasks bounds the tool calls running as tasks at once, all callers
// together (mcp-go refuses more).
const maxTasks = 64

// newServer builds the MCP server with every tool registered. store keeps
// the generated files (nil: none); the calls that run as tasks end with
// lifetime.
func newServer(lifetime context.Context, cfg config, logger *slog.Logger, store *media.Store) (*server.MCPServer, error) {
	// Each tool call is bounded as a whole (Deps.Timeouts), so requests get no separate limit.
	client := nanogpt.New(nanogpt.Config{BaseURL: cfg.baseURL, APIKey: cfg.apiKey, Retry: cfg.reliability.retry, UserAgent: "nanogpt-mcp/" + versionString()})
	var owner func(context.Context) string
	if cfg.transport != "stdio" {
		owner = func(ctx context.Context) string { c, _ := hosting.CallerFrom(ctx); return c.Owner() }
	}
	opts := []server.ServerOption{
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithHooks(tools.MediaHooks(store, owner)),
		server.WithInstructions(instructions()),
	}
	// Tasks (2025-11-25) where calls belong to a session: mcp-go keeps them
	// per session, and lists every task to a request without one (stateless).
	tasks := cfg.transport == "stdio" || !cfg.hosting.stateless
	if tasks {
		opts = append(opts, server.WithTaskCapabilities(true, true, true), server.WithMaxConcurrentTasks(maxTasks))
	}
	s := server.NewMCPServer("nanogpt-mcp", versionString(), opts...)
	deps := tools.Deps{
		Owner:    owner,
		Store:    store,
		Tasks:    tasks,
		Lifetime: lifetime,
		Client:   clientFor(cfg, client),
		Files:    tools.Files{Roots: cfg.allowDirs, Hosted: cfg.transport != "stdio", Fetch: tools.NewFetcher(cfg.allowPrivate, time.Minute)},
		Media:    tools.Media{Mode: cfg.mediaMode, Dir: cfg.outputDir, InlineMax: cfg.inlineMax, Hosted: cfg.transport != "stdio"},
		Logger:   logger,
		Timeouts: cfg.reliability.limits(cfg.timeout),
		Poll:     cfg.reliability.poll,
		JobWait:  cfg.reliability.jobWait,
	}
	if cfg.transport == "stdio" && len(cfg.allowDirs) == 0 {
		// The client's roots are on this machine only when it runs us locally.
		deps.Files.ClientRoots = tools.ClientRoots(s, logger.Warn)
	}
	if err := tools.Register(s, deps, cfg.tools, cfg.defaultModels); err != nil {
		return nil, err
	}
	return s, nil
}

// terminalHint is what a person who ran the server by hand reads: over
// stdio it waits, silent, for a client to speak MCP on stdin.
const terminalHint = "nanogpt-mcp is waiting for an MCP client on stdin: assistants start this command themselves " +
	"(see the README: Add it to your assistant). Ctrl-C stops it; --help lists the options; --transport http serves it over HTTP."

// fromTerminal reports whether stdin is a terminal (a character device)
// rather than the pipe a client gives.
func fromTerminal(stdin io.Reader) bool {
	f, ok := stdin.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// clientFor returns the NanoGPT client of a call. With per-caller keys it
// carries the caller's key, even an empty one: the server's own key is never
// spent for a caller (the Gate has already refused requests without a key).
func clientFor(cfg config, client *nanogpt.Client) func(ctx context.Context) (*nanogpt.Client, error) {
	return func(ctx context.Context) (*nanogpt.Client, error) {
		if cfg.hosting.callerKeys() {
			c, _ := hosting.CallerFrom(ctx)
			return client.WithKey(c.Key), nil
		}
		return client, nil
	}
}

// run parses the configuration and serves until ctx ends or stdin closes.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	if cfg.apiKey == "" && !cfg.hosting.callerKeys() {
		logger.Warn("NANOGPT_API_KEY is not set: tools will answer with an error until it is")
	}
	store := media.New(cfg.mediaStore)
	s, err := newServer(ctx, cfg, logger, store)
	if err != nil {
		return err
	}
	logger.Info("starting", "version", versionString(), "config", cfg.String())
	switch cfg.transport {
	case "stdio":
		if fromTerminal(stdin) {
			fmt.Fprintln(stderr, terminalHint)
		}
		return serveStdio(ctx, cfg, s, stdin, stdout, logger)
	default:
		return serveHTTP(ctx, cfg, s, store, logger)
	}
}

// serveStdio serves s over stdin and stdout until ctx ends or stdin closes.
// Tool calls run on --workers goroutines: they wait on NanoGPT, not the CPU.
func serveStdio(ctx context.Context, cfg config, s *server.MCPServer, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	err := stdio.Serve(ctx, s, stdin, stdout, stdio.Options{
		Workers: cfg.workers,
		Logger:  logger,
		Request: func(ctx context.Context, send func(any) error) context.Context {
			ctx = tools.WithNotifier(ctx, send)
			return tools.WithLifted(ctx, func(ref string) (tools.Lifted, bool) {
				b, ok := stdio.BlobFrom(ctx, ref)
				return b, ok
			})
		},
	})
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
