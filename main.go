// Command nanogpt-mcp is an MCP server for the NanoGPT API: chat, images,
// speech and transcription, over stdio, SSE or streamable HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/server"

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

// config is everything the server is configured with.
type config struct {
	transport     string
	addr          string
	baseURL       string
	apiKey        string
	allowDirs     []string
	allowPrivate  bool
	timeout       time.Duration
	workers       int
	logLevel      slog.Level
	mediaMode     string
	outputDir     string
	inlineMax     int64
	tools         []string          // the tools to expose (all when empty)
	defaultModels map[string]string // tool name → default model
	hosting       hostingConfig     // the HTTP transports' settings (http.go)
	reliability   reliabilityConfig // per-tool time limits and retries (reliability.go)
}

// String never shows the key.
func (c config) String() string {
	return fmt.Sprintf("transport=%s addr=%s base_url=%s api_key=%s allow_dirs=%v timeout=%s",
		c.transport, c.addr, c.baseURL, map[bool]string{true: "set", false: "unset"}[c.apiKey != ""], c.allowDirs, c.timeout)
}

// GoString keeps %#v from printing the key as well.
func (c config) GoString() string { return c.String() }

// listFlag is a repeatable flag whose environment twin is a path list.
type listFlag struct {
	vals []string
	set  bool // set on the command line (then the environment is ignored)
}

func (l *listFlag) String() string { return strings.Join(l.vals, string(os.PathListSeparator)) }
func (l *listFlag) Set(v string) error {
	if !l.set {
		l.vals, l.set = nil, true
	}
	l.vals = append(l.vals, v)
	return nil
}

const usageHeader = `nanogpt-mcp %s: an MCP server for the NanoGPT API (https://nano-gpt.com).

Tools: ask (chat completion), createImage, createSpeech, createTranscription.

Usage:
  nanogpt-mcp [flags]                 serve MCP over stdio (what desktop assistants run)
  nanogpt-mcp --transport http        serve streamable HTTP at /mcp (and legacy SSE at /sse, /message)

Environment:
  NANOGPT_API_KEY   your NanoGPT API key (required for tool calls; there is deliberately no flag,
                    since flags are visible in process lists). It is never logged.

Every flag has an environment twin, shown in brackets; a flag given on the command line wins.

Flags:
`

// parseConfig reads flags and their environment twins.
func parseConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("nanogpt-mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var (
		cfg       config
		allowDirs listFlag
		timeoutS  string
		workersS  string
		privateS  string
		logLevelS string
		inlineS   string
		toolsS    string
		models    = map[string]*string{}
		showVer   bool
	)
	fs.StringVar(&cfg.transport, "transport", env("NANOGPT_MCP_TRANSPORT", "stdio"), "`stdio|sse|http`: how clients connect. stdio for local assistants; http serves streamable HTTP at /mcp plus legacy SSE; sse serves only legacy SSE (/sse, /message) [$NANOGPT_MCP_TRANSPORT]")
	fs.StringVar(&cfg.addr, "addr", env("NANOGPT_MCP_ADDR", "127.0.0.1:8080"), "`host:port` the HTTP transports listen on [$NANOGPT_MCP_ADDR]")
	fs.StringVar(&cfg.baseURL, "base-url", env("NANOGPT_BASE_URL", nanogpt.DefaultBaseURL), "NanoGPT `URL`; /api/v1/... and /api/... are appended (e.g. https://api.nano-gpt.com for large uploads) [$NANOGPT_BASE_URL]")
	fs.Var(&allowDirs, "allow-dir", "`folder` whose files tools may read as attachments or audio (repeatable; the environment twin is a list separated by '"+string(os.PathListSeparator)+"'). Default over stdio: the working directory. Hosted (sse, http): none, and local paths are refused [$NANOGPT_MCP_ALLOW_DIRS]")
	fs.StringVar(&privateS, "allow-private-urls", env("NANOGPT_MCP_ALLOW_PRIVATE_URLS", "false"), "`bool`: let the server download URLs on loopback, private and link-local addresses (off: such URLs are refused) [$NANOGPT_MCP_ALLOW_PRIVATE_URLS]")
	fs.StringVar(&timeoutS, "timeout", env("NANOGPT_MCP_TIMEOUT", "5m"), "`duration` one tool call may take in all, e.g. 90s or 10m; also ask's default (createImage, createSpeech and createTranscription have their own limits) [$NANOGPT_MCP_TIMEOUT]")
	fs.StringVar(&workersS, "workers", env("NANOGPT_MCP_WORKERS", "32"), "`n` tool calls served at once over stdio (1-100); calls wait on NanoGPT, not the CPU [$NANOGPT_MCP_WORKERS]")
	fs.StringVar(&logLevelS, "log-level", env("NANOGPT_MCP_LOG_LEVEL", "info"), "`debug|info|warn|error`; logs go to stderr, never stdout [$NANOGPT_MCP_LOG_LEVEL]")
	fs.StringVar(&cfg.mediaMode, "media-output", env("NANOGPT_MCP_MEDIA_OUTPUT", "auto"), "`auto|inline|file|url`: where generated images and audio go by default (a call may override it with its output parameter). inline: image/audio blocks in the result; file: saved in --output-dir, the result gives the path; url: NanoGPT's URL (expires); auto: inline while under --inline-limit, else file (stdio) or url (hosted) [$NANOGPT_MCP_MEDIA_OUTPUT]")
	fs.StringVar(&cfg.outputDir, "output-dir", env("NANOGPT_MCP_OUTPUT_DIR", ""), "`folder` for generated files, created when missing. Default over stdio: nanogpt-mcp in your home folder ("+defaultOutputDir()+"); hosted: none (file output off) [$NANOGPT_MCP_OUTPUT_DIR]")
	fs.StringVar(&inlineS, "inline-limit", env("NANOGPT_MCP_INLINE_LIMIT", "700000"), "`bytes` of base64 media one result may carry inline (auto mode); Claude Desktop rejects results over 1 MiB [$NANOGPT_MCP_INLINE_LIMIT]")
	fs.StringVar(&toolsS, "tools", env("NANOGPT_MCP_TOOLS", ""), "`list` of tools to expose, comma-separated (default: all: "+strings.Join(tools.Names(), ",")+"); fewer tools spend less of the assistant's context [$NANOGPT_MCP_TOOLS]")
	for _, t := range []struct{ tool, flag, env string }{
		{"ask", "ask-model", "NANOGPT_MCP_ASK_MODEL"}, {"createImage", "image-model", "NANOGPT_MCP_IMAGE_MODEL"},
		{"createSpeech", "speech-model", "NANOGPT_MCP_SPEECH_MODEL"}, {"createTranscription", "transcription-model", "NANOGPT_MCP_TRANSCRIPTION_MODEL"},
	} {
		models[t.tool] = fs.String(t.flag, env(t.env, ""), "`model` "+t.tool+" uses when a call names none; the tool's model parameter then becomes optional [$"+t.env+"]")
	}
	fs.BoolVar(&showVer, "version", false, "print the version and exit")
	cfg.hosting.addFlags(fs, env)
	cfg.reliability.addFlags(fs, env)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usageHeader, versionString())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if showVer {
		fmt.Fprintln(stdout, "nanogpt-mcp", versionString())
		return cfg, flag.ErrHelp
	}
	cfg.apiKey = strings.TrimSpace(getenv("NANOGPT_API_KEY"))
	switch cfg.transport {
	case "stdio", "sse", "http":
	default:
		return cfg, fmt.Errorf("--transport: %q is not allowed (allowed: stdio, sse, http)", cfg.transport)
	}
	var err error
	if cfg.allowPrivate, err = strconv.ParseBool(privateS); err != nil {
		return cfg, fmt.Errorf("--allow-private-urls: %q is not a boolean (true or false)", privateS)
	}
	if cfg.timeout, err = positiveDuration("--timeout", timeoutS); err != nil {
		return cfg, err
	}
	if cfg.workers, err = strconv.Atoi(workersS); err != nil || cfg.workers < 1 || cfg.workers > 100 {
		return cfg, fmt.Errorf("--workers: %q is not a whole number from 1 to 100", workersS)
	}
	if err := cfg.logLevel.UnmarshalText([]byte(logLevelS)); err != nil {
		return cfg, fmt.Errorf("--log-level: %q is not allowed (allowed: debug, info, warn, error)", logLevelS)
	}
	if !strings.HasPrefix(cfg.baseURL, "https://") && !strings.HasPrefix(cfg.baseURL, "http://") {
		return cfg, fmt.Errorf("--base-url: %q is not an http(s) URL", cfg.baseURL)
	}
	for _, name := range strings.Split(toolsS, ",") {
		if name = strings.TrimSpace(name); name != "" {
			if !slices.Contains(tools.Names(), name) {
				return cfg, fmt.Errorf("--tools: %q is not a tool (tools: %s)", name, strings.Join(tools.Names(), ", "))
			}
			cfg.tools = append(cfg.tools, name)
		}
	}
	for tool, m := range models {
		if *m != "" {
			if cfg.defaultModels == nil {
				cfg.defaultModels = map[string]string{}
			}
			cfg.defaultModels[tool] = strings.TrimSpace(*m)
		}
	}
	switch cfg.mediaMode {
	case "auto", "inline", "file", "url":
	default:
		return cfg, fmt.Errorf("--media-output: %q is not allowed (allowed: auto, inline, file, url)", cfg.mediaMode)
	}
	if cfg.inlineMax, err = strconv.ParseInt(inlineS, 10, 64); err != nil || cfg.inlineMax < 0 {
		return cfg, fmt.Errorf("--inline-limit: %q is not a number of bytes", inlineS)
	}
	if cfg.outputDir == "" && cfg.transport == "stdio" {
		cfg.outputDir = defaultOutputDir()
	}
	if cfg.outputDir != "" {
		if cfg.outputDir, err = filepath.Abs(cfg.outputDir); err != nil {
			return cfg, fmt.Errorf("--output-dir: %w", err)
		}
	}
	if cfg.mediaMode == "file" && cfg.outputDir == "" {
		return cfg, fmt.Errorf("--media-output file needs --output-dir")
	}
	if err := cfg.hosting.check(&cfg); err != nil {
		return cfg, err
	}
	if err := cfg.reliability.check(); err != nil {
		return cfg, err
	}
	dirs := allowDirs.vals
	if !allowDirs.set {
		if v := getenv("NANOGPT_MCP_ALLOW_DIRS"); v != "" {
			dirs = filepath.SplitList(v)
		} else if cfg.transport == "stdio" {
			dirs = []string{"."}
		}
	}
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return cfg, fmt.Errorf("--allow-dir %q: %w", d, err)
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return cfg, fmt.Errorf("--allow-dir %q: not a folder", d)
		}
		cfg.allowDirs = append(cfg.allowDirs, abs)
	}
	return cfg, nil
}

// positiveDuration parses a flag's duration value, which must be above zero.
func positiveDuration(flag, v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration such as 30s or 5m", flag, v)
	}
	return d, nil
}

// defaultOutputDir is where generated files go over stdio unless told otherwise.
func defaultOutputDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "nanogpt-mcp")
	}
	return filepath.Join(home, "nanogpt-mcp")
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

const instructions = `Tools for the NanoGPT API. ask: chat with any NanoGPT text model (prompt or message list, image and text attachments, JSON output, every sampling parameter). createImage: text-to-image and image-to-image. createSpeech: text-to-speech. createTranscription: speech-to-text. listModels: find model ids and prices. checkBalance: the account balance. Calls are paid from the NanoGPT balance of the key in use.`

// newServer builds the MCP server with every tool registered.
func newServer(cfg config, logger *slog.Logger) (*server.MCPServer, error) {
	// Each tool call is bounded as a whole (Deps.Timeouts), so requests get no separate limit.
	client := nanogpt.New(nanogpt.Config{BaseURL: cfg.baseURL, APIKey: cfg.apiKey, Retry: cfg.reliability.retry, UserAgent: "nanogpt-mcp/" + versionString()})
	s := server.NewMCPServer("nanogpt-mcp", versionString(),
		server.WithToolCapabilities(false),
		server.WithInstructions(instructions),
	)
	deps := tools.Deps{
		Client: func(ctx context.Context) (*nanogpt.Client, error) {
			if key, ok := callerKey(ctx); ok {
				return client.WithKey(key), nil
			}
			return client, nil
		},
		Files:    tools.Files{Roots: cfg.allowDirs, Fetch: tools.NewFetcher(cfg.allowPrivate, time.Minute)},
		Media:    tools.Media{Mode: cfg.mediaMode, Dir: cfg.outputDir, InlineMax: cfg.inlineMax, Hosted: cfg.transport != "stdio"},
		Logger:   logger,
		Timeouts: cfg.reliability.limits(cfg.timeout),
		Poll:     cfg.reliability.poll,
	}
	if err := tools.Register(s, deps, cfg.tools, cfg.defaultModels); err != nil {
		return nil, err
	}
	return s, nil
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
	s, err := newServer(cfg, logger)
	if err != nil {
		return err
	}
	logger.Info("starting", "version", versionString(), "config", cfg.String())
	switch cfg.transport {
	case "stdio":
		return serveStdio(ctx, cfg, s, stdin, stdout, logger)
	default:
		return serveHTTP(ctx, cfg, s, logger)
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
