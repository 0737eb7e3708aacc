package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/hosting"
	"github.com/nanogpt-mcp/nanogpt-mcp/media"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// config is everything the server is configured with. It is filled from the
// options table (options), then checked as a whole (check).
type config struct {
	transport     string
	addr          string
	baseURL       string
	apiKey        string // from NANOGPT_API_KEY only
	allowDirs     []string
	allowPrivate  bool
	timeout       time.Duration
	workers       int
	logLevel      slog.Level
	mediaMode     string
	outputDir     string
	inlineMax     int64
	mediaStore    media.Options     // hosted, in --output-dir when set
	tools         []string          // the tools to expose (all when empty)
	defaultModels map[string]string // tool name → default model
	hosting       hostingConfig
	reliability   reliabilityConfig
}

// hostingConfig is the part of the configuration for the HTTP transports.
type hostingConfig struct {
	tokens               []string // access tokens; never print them
	allowNoAuth          bool
	keyMode              string // server | caller
	tokenHeader          string
	origins              []string
	hosts                []string
	publicURL            string
	maxBody              int64
	maxBodies            int64
	maxSessions          int
	maxSessionsPerCaller int
	sessionIdleTimeout   time.Duration
	rateLimit            int
	maxConcurrent        int
	stateless            bool
	shutdownTimeout      time.Duration
	readHeaderTimeout    time.Duration
	readTimeout          time.Duration
	idleTimeout          time.Duration
	serverKeyIgnored     bool // caller mode dropped NANOGPT_API_KEY
}

// reliabilityConfig is the part of the configuration for time limits, retries and polling.
type reliabilityConfig struct {
	toolTimeouts map[string]time.Duration // tool name → its own limit; absent: --timeout
	retry        nanogpt.RetryPolicy
	poll         nanogpt.PollOptions
	jobWait      time.Duration
}

// String never shows the key.
func (c config) String() string {
	return fmt.Sprintf("transport=%s addr=%s base_url=%s api_key=%s allow_dirs=%v timeout=%s",
		c.transport, c.addr, c.baseURL, map[bool]string{true: "set", false: "unset"}[c.apiKey != ""], c.allowDirs, c.timeout)
}

// GoString keeps %#v from printing the key as well.
func (c config) GoString() string { return c.String() }

// String describes the settings without the tokens.
func (h hostingConfig) String() string {
	return fmt.Sprintf("key_mode=%s access_tokens=%d token_header=%s allowed_origins=%v allowed_hosts=%v stateless=%v max_body=%d rate_limit=%d max_concurrent=%d shutdown_timeout=%s",
		h.keyMode, len(h.tokens), h.tokenHeader, h.origins, h.hosts, h.stateless, h.maxBody, h.rateLimit, h.maxConcurrent, h.shutdownTimeout)
}

// GoString keeps the tokens out of %#v too.
func (h hostingConfig) GoString() string { return h.String() }

// callerKeys reports whether each caller pays with their own key.
func (h hostingConfig) callerKeys() bool { return h.keyMode == "caller" }

// secretEnv is a setting read from the environment only: a secret, which
// must not show in process lists as a flag would.
type secretEnv struct{ name, help string }

// mediaKeyEnv signs the media store's download links.
const mediaKeyEnv = "NANOGPT_MCP_MEDIA_KEY"

// secrets are the settings without a flag.
var secrets = []secretEnv{
	{"NANOGPT_API_KEY", "your NanoGPT API key, needed for tool calls (there is deliberately no flag: flags show in process lists); never logged"},
	{mediaKeyEnv, "the key that signs the download links of generated files (hosted; at least 32 characters). Replicas that share it, and a folder (--output-dir), serve each other's links. Default: a random key per process"},
}

// envPrefix starts the environment twin of every flag: NANOGPT_MCP_ and the
// flag's name in capitals (with an S for a repeatable flag, whose twin is a list).
const envPrefix = "NANOGPT_MCP_"

// option is one flag and its environment twin: a row of the table.
type option struct {
	name string // the flag, without its dashes
	arg  string // what the value is, for --help; "" for a switch (a bare --name means true)
	def  string // the default, as written on the command line; "" for none
	help string
	set  func(c *config, v string) error // parses v (the flag, else the twin, else def) into c
	sep  string                          // for a repeatable flag: the separator of its twin's list
	env  string                          // the twin, where the contract names it otherwise
}

// twin is the option's environment variable.
func (o option) twin() string {
	if o.env != "" {
		return o.env
	}
	s := envPrefix + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
	if o.sep != "" {
		s += "S"
	}
	return s
}

// options is the table of every flag. The tools' own flags come from their specs.
func options() []option {
	opts := []option{
		{name: "transport", arg: "stdio|sse|http", def: "stdio", set: oneOf(func(c *config) *string { return &c.transport }, "stdio", "sse", "http"),
			help: "how clients connect: stdio for local assistants; http serves streamable HTTP at /mcp plus legacy SSE; sse serves only legacy SSE (/sse, /message)"},
		{name: "addr", arg: "host:port", def: "127.0.0.1:8080", set: text(func(c *config) *string { return &c.addr }),
			help: "where the HTTP transports listen"},
		{name: "base-url", arg: "URL", def: nanogpt.DefaultBaseURL, env: "NANOGPT_BASE_URL", set: text(func(c *config) *string { return &c.baseURL }),
			help: "NanoGPT's address; /api/v1/... and /api/... are appended (e.g. https://api.nano-gpt.com for large uploads)"},
		{name: "allow-dir", arg: "folder", sep: string(os.PathListSeparator), set: list(func(c *config) *[]string { return &c.allowDirs }),
			help: "folder whose files tools may read as attachments or audio (repeatable; the environment twin is a list separated by ':', or ';' on Windows). Never / itself, /proc, /sys or /dev. Default over stdio: the folders the client declares as its roots (roots/list), but never /, the home folder itself or a system folder; none when it declares none. Hosted (sse, http): none, and local paths are refused"},
		{name: "allow-private-urls", set: boolean(func(c *config) *bool { return &c.allowPrivate }),
			help: "let the server download URLs on loopback, private and link-local addresses (off: such URLs are refused)"},
		{name: "timeout", arg: "duration", def: "5m", set: duration(func(c *config) *time.Duration { return &c.timeout }),
			help: "how long one tool call may take in all, e.g. 90s or 10m; the limit of the tools without one of their own"},
		{name: "workers", arg: "n", def: "32", set: count(func(c *config) *int { return &c.workers }, 1, 100),
			help: "tool calls served at once over stdio (1-100); calls wait on NanoGPT, not the CPU"},
		{name: "log-level", arg: "debug|info|warn|error", def: "info", set: logLevel,
			help: "what is logged; logs go to stderr, never stdout"},
		{name: "media-output", arg: "auto|inline|file|url", def: "auto", set: oneOf(func(c *config) *string { return &c.mediaMode }, "auto", "inline", "file", "url"),
			help: "where generated images and audio go by default (a call may override it with its output parameter). inline: image/audio blocks in the result; file: saved in --output-dir, the result gives the path; url: NanoGPT's URL (expires); auto: inline while under --inline-limit, else file (stdio) or url (hosted)"},
		{name: "output-dir", arg: "folder", set: text(func(c *config) *string { return &c.outputDir }),
			help: "folder for generated files, created when missing. Default over stdio: nanogpt-mcp in your home folder; hosted: none (file output off)"},
		{name: "media-store-size", arg: "size", def: "256MiB", set: size(func(c *config) *int64 { return &c.mediaStore.MaxBytes }, 1<<20),
			help: "cap on the bytes of generated files the server keeps of its own, to serve them as MCP resources (and, hosted, through download links): in memory, or hosted in --output-dir; the oldest go first. Files saved for you (file output) are not counted and never deleted"},
		{name: "media-ttl", arg: "duration", def: "1h", set: duration(func(c *config) *time.Duration { return &c.mediaStore.TTL }),
			help: "how long a generated file stays readable as a resource and through its download link"},
		{name: "inline-limit", arg: "bytes", def: "700000", set: size(func(c *config) *int64 { return &c.inlineMax }, 0),
			help: "base64 bytes of media one result may carry inline (auto mode); Claude Desktop rejects results over 1 MiB"},
		{name: "tools", arg: "list", set: toolList,
			help: "tools to expose, comma-separated (default: all: " + strings.Join(tools.Names(), ",") + "); fewer tools spend less of the assistant's context"},
		{name: "retries", arg: "n", def: "2", set: count(func(c *config) *int { return &c.reliability.retry.Retries }, 0, 10),
			help: "times a NanoGPT request is repeated after HTTP 408, 429, 500, 502, 503 or 504 or a failed connection, with exponential backoff and jitter, within the call's time limit (0: never). Accepted jobs and begun streams are never repeated"},
		{name: "retry-max-wait", arg: "duration", def: "30s", set: duration(func(c *config) *time.Duration { return &c.reliability.retry.MaxDelay }),
			help: "the longest wait before one retry; a Retry-After beyond it is not waited for, the call fails with rate_limited instead"},
		{name: "poll-interval", arg: "duration", set: duration(func(c *config) *time.Duration { return &c.reliability.poll.Interval }),
			help: "time between two status checks of an asynchronous NanoGPT job (speech, transcription, video). Default: NanoGPT's advice for each kind, 3s for speech and 5s for transcription and video"},
		{name: "job-wait", arg: "duration", def: "50s", set: duration(func(c *config) *time.Duration { return &c.reliability.jobWait }),
			help: "how long a call waits for its asynchronous NanoGPT job (speech, transcription, video) before it answers with the job's id, for getJob to wait again; below the 60 s after which many clients give up on a call. A call's wait parameter overrides it"},
		{name: "auth-token", arg: "token", sep: ",", set: list(func(c *config) *[]string { return &c.hosting.tokens }),
			help: "access token a caller must present to use the HTTP transports (repeatable; the environment twin is a comma-separated list, and is the better place: command lines are visible to other local users). At least 16 characters, e.g. openssl rand -hex 32. Without any, only a loopback --addr may be used, unless --allow-no-auth"},
		{name: "allow-no-auth", set: boolean(func(c *config) *bool { return &c.hosting.allowNoAuth }),
			help: "serve a non-loopback --addr without access tokens: only when something in front (a proxy, a private network) authenticates callers"},
		{name: "key-mode", arg: "server|caller", def: "server", set: oneOf(func(c *config) *string { return &c.hosting.keyMode }, "server", "caller"),
			help: "whose NanoGPT key pays. server: NANOGPT_API_KEY from the environment, for every caller. caller: each request carries the caller's own key in Authorization: Bearer or x-api-key, and only that key is used (NANOGPT_API_KEY is ignored); requests without one get 401"},
		{name: "access-token-header", arg: "header", set: text(func(c *config) *string { return &c.hosting.tokenHeader }),
			help: "header that carries the access token. Default: Authorization (as Bearer) with --key-mode server; X-MCP-Access-Token with --key-mode caller, where Authorization carries the caller's key"},
		{name: "allowed-origin", arg: "origin", sep: ",", set: list(func(c *config) *[]string { return &c.hosting.origins }),
			help: "browser origin (scheme://host[:port]) allowed to call besides loopback origins, or * for any (repeatable; comma-separated twin). Requests with any other Origin header get 403; requests without one (non-browser clients) are unaffected"},
		{name: "allowed-host", arg: "host", sep: ",", set: list(func(c *config) *[]string { return &c.hosting.hosts }),
			help: "host or host:port a request's Host header may name (repeatable; comma-separated twin). Without any: on a loopback address only loopback names are accepted (DNS-rebinding protection), elsewhere any. With some: loopback names and these only. Set it to your public name behind a reverse proxy that keeps Host"},
		{name: "public-url", arg: "URL", set: text(func(c *config) *string { return &c.hosting.publicURL }),
			help: "where clients reach this server, when a proxy serves it under a path prefix (e.g. https://tools.example.com/nanogpt); legacy SSE clients are told to post messages there. Default: relative to the request"},
		{name: "max-body", arg: "size", def: "16MiB", set: size(func(c *config) *int64 { return &c.hosting.maxBody }, 1024),
			help: "cap on one request body, e.g. 16MiB or 1048576; larger requests get 413. The default fits a 10 MiB image sent as a data: URL"},
		{name: "max-bodies", arg: "size", def: "256MiB", set: size(func(c *config) *int64 { return &c.hosting.maxBodies }, 1024),
			help: "cap on the bytes of all request bodies held at once (each counts its announced size until its request ends); over it, requests get 503 with Retry-After. Bounds the memory that large bodies can take, whoever sends them"},
		{name: "max-sessions", arg: "n", def: "1000", set: count(func(c *config) *int { return &c.hosting.maxSessions }, 1, 1<<20),
			help: "sessions held at once, streamable HTTP sessions and legacy SSE streams together; over it, a new one gets 503"},
		{name: "max-sessions-per-caller", arg: "n", def: "32", set: count(func(c *config) *int { return &c.hosting.maxSessionsPerCaller }, 1, 1<<20),
			help: "sessions one caller may hold at once; over it, a new one gets 429 (sessions end with DELETE, with their SSE stream, or when idle)"},
		{name: "session-idle-timeout", arg: "duration", def: "30m", set: duration(func(c *config) *time.Duration { return &c.hosting.sessionIdleTimeout }),
			help: "how long an unused streamable HTTP session lives"},
		{name: "rate-limit", arg: "n", def: "60", set: count(func(c *config) *int { return &c.hosting.rateLimit }, 0, 1<<30),
			help: "tool calls (and initialize requests) per minute per caller (bursts up to n, refilled continuously); more get 429 with Retry-After. 0 turns it off. A caller is their key (--key-mode caller), else their access token, else their address"},
		{name: "max-concurrent", arg: "n", def: "8", set: count(func(c *config) *int { return &c.hosting.maxConcurrent }, 0, 1<<30),
			help: "tool calls one caller may have in flight; more get 429 with Retry-After. 0 turns it off"},
		{name: "stateless", set: boolean(func(c *config) *bool { return &c.hosting.stateless }),
			help: "streamable HTTP without sessions: any replica answers any request, so several replicas can run behind a plain round-robin load balancer (legacy SSE still needs sticky sessions)"},
		{name: "shutdown-timeout", arg: "duration", def: "30s", set: duration(func(c *config) *time.Duration { return &c.hosting.shutdownTimeout }),
			help: "how long in-flight calls get to finish after SIGTERM before they are cancelled; keep it below your orchestrator's grace period"},
		{name: "read-header-timeout", arg: "duration", def: "10s", set: duration(func(c *config) *time.Duration { return &c.hosting.readHeaderTimeout }),
			help: "how long a client may take to send request headers (slow clients are cut off)"},
		{name: "read-timeout", arg: "duration", def: "1m", set: duration(func(c *config) *time.Duration { return &c.hosting.readTimeout }),
			help: "how long a client may take to send a whole request, its body included, authenticated or not; a slower one is cut off"},
		{name: "idle-timeout", arg: "duration", def: "2m", set: duration(func(c *config) *time.Duration { return &c.hosting.idleTimeout }),
			help: "how long an idle keep-alive connection stays open; keep it above your load balancer's idle timeout"},
	}
	return append(opts, toolOptions()...)
}

// toolOptions are each tool's own flags, from its spec: its default model and
// its time limit.
func toolOptions() []option {
	var opts []option
	for _, s := range tools.Specs() {
		if s.Flag == "" {
			continue
		}
		name := s.Name
		if s.TakesModel {
			opts = append(opts, option{name: s.Flag + "-model", arg: "model",
				help: "the model " + name + " uses when a call names none; the tool's model parameter then becomes optional",
				set: func(c *config, v string) error {
					c.defaultModels[name] = v
					return nil
				}})
		}
		def, limit := "", "one "+name+" call may take in all (NanoGPT's answer, retries, job polling and the download); default: --timeout"
		if s.Timeout > 0 {
			def, limit = shortDuration(s.Timeout), "one "+name+" call may take in all (NanoGPT's answer, retries, job polling and the download)"
		}
		opts = append(opts, option{name: s.Flag + "-timeout", arg: "duration", def: def,
			help: "how long " + limit + "; running out is an upstream_timeout error",
			set: func(c *config, v string) error {
				d, err := positiveDuration(v)
				c.reliability.toolTimeouts[name] = d
				return err
			}})
	}
	return opts
}

// The parsers of the table.

func text(field func(*config) *string) func(*config, string) error {
	return func(c *config, v string) error { *field(c) = v; return nil }
}

func oneOf(field func(*config) *string, allowed ...string) func(*config, string) error {
	return func(c *config, v string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("%q is not allowed (allowed: %s)", v, strings.Join(allowed, ", "))
		}
		*field(c) = v
		return nil
	}
}

func boolean(field func(*config) *bool) func(*config, string) error {
	return func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", v)
		}
		*field(c) = b
		return nil
	}
}

func duration(field func(*config) *time.Duration) func(*config, string) error {
	return func(c *config, v string) (err error) {
		*field(c), err = positiveDuration(v)
		return err
	}
}

// shortDuration writes 10m rather than 10m0s.
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// positiveDuration parses a duration above zero.
func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 30s or 5m", v)
	}
	return d, nil
}

func count(field func(*config) *int, lo, hi int) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q is not a whole number from %d to %d", v, lo, hi)
		}
		*field(c) = n
		return nil
	}
}

func size(field func(*config) *int64, least int64) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := parseSize(v)
		if err != nil || n < least {
			return fmt.Errorf("%q is not a size of at least %d bytes, such as 16MiB or 1048576", v, least)
		}
		*field(c) = n
		return nil
	}
}

// list appends one value (repeatable flags call it once per value).
func list(field func(*config) *[]string) func(*config, string) error {
	return func(c *config, v string) error {
		*field(c) = append(*field(c), v)
		return nil
	}
}

func logLevel(c *config, v string) error {
	if err := c.logLevel.UnmarshalText([]byte(v)); err != nil {
		return fmt.Errorf("%q is not allowed (allowed: debug, info, warn, error)", v)
	}
	return nil
}

func toolList(c *config, v string) error {
	for _, name := range strings.Split(v, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if !slices.Contains(tools.Names(), name) {
			return fmt.Errorf("%q is not a tool (tools: %s)", name, strings.Join(tools.Names(), ", "))
		}
		c.tools = append(c.tools, name)
	}
	return nil
}

// parseSize reads 1048576, 512KiB, 16MiB, 1GiB (also KB, MB, GB, k, M, G as
// powers of 1024: a cap, not a billing unit).
func parseSize(s string) (int64, error) {
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

// flagValue is an option's flag: it keeps what the command line said.
type flagValue struct {
	opt  *option
	vals []string
}

func (f *flagValue) String() string { return "" } // never shows a value (it may be a token)

func (f *flagValue) Set(v string) error {
	if f.opt.sep == "" {
		f.vals = f.vals[:0]
	}
	f.vals = append(f.vals, v)
	return nil
}

// IsBoolFlag lets a switch stand alone: --stateless means --stateless=true.
func (f *flagValue) IsBoolFlag() bool { return f.opt.arg == "" }

// parseConfig reads the flags, their environment twins and NANOGPT_API_KEY.
// A flag on the command line wins over its twin; a twin over the default.
func parseConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) (config, error) {
	cfg := config{defaultModels: map[string]string{}, reliability: reliabilityConfig{toolTimeouts: map[string]time.Duration{}}}
	opts := options()
	fs := flag.NewFlagSet("nanogpt-mcp", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; --help is printed below
	values := make([]*flagValue, len(opts))
	for i := range opts {
		values[i] = &flagValue{opt: &opts[i]}
		fs.Var(values[i], opts[i].name, opts[i].help)
	}
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeUsage(stderr, opts)
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if *showVersion {
		fmt.Fprintln(stdout, "nanogpt-mcp", versionString())
		return cfg, flag.ErrHelp
	}
	for i, o := range opts {
		vals := values[i].vals
		from := "--" + o.name
		if len(vals) == 0 {
			from = "$" + o.twin()
			if v := strings.TrimSpace(getenv(o.twin())); v != "" {
				vals = []string{v}
				if o.sep != "" {
					vals = strings.Split(v, o.sep)
				}
			} else if o.def != "" {
				vals = []string{o.def}
			}
		}
		for _, v := range vals {
			if v = strings.TrimSpace(v); v == "" && o.sep != "" {
				continue
			}
			if o.arg == "" && v == "" {
				v = "true"
			}
			if err := o.set(&cfg, v); err != nil {
				return cfg, fmt.Errorf("%s: %w", from, err)
			}
		}
	}
	cfg.apiKey = strings.TrimSpace(getenv("NANOGPT_API_KEY"))
	if k := strings.TrimSpace(getenv(mediaKeyEnv)); k != "" {
		if len(k) < 32 {
			return cfg, errors.New("$" + mediaKeyEnv + ": at least 32 characters, e.g. openssl rand -hex 32")
		}
		cfg.mediaStore.Key = []byte(k)
	}
	return cfg, cfg.check()
}

// check validates what no single option can, and fills in the defaults that
// depend on other options.
func (c *config) check() error {
	if !strings.HasPrefix(c.baseURL, "https://") && !strings.HasPrefix(c.baseURL, "http://") {
		return fmt.Errorf("--base-url: %q is not an http(s) URL", c.baseURL)
	}
	if c.outputDir == "" && c.transport == "stdio" {
		c.outputDir = defaultOutputDir()
	}
	if c.transport != "stdio" {
		c.mediaStore.Dir = c.outputDir // replicas sharing it serve each other's links
	}
	if c.outputDir != "" {
		abs, err := filepath.Abs(c.outputDir)
		if err != nil {
			return fmt.Errorf("--output-dir: %w", err)
		}
		c.outputDir = abs
	}
	if c.mediaMode == "file" && c.outputDir == "" {
		return errors.New("--media-output file needs --output-dir")
	}
	for i, d := range c.allowDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return fmt.Errorf("--allow-dir %q: %w", d, err)
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return fmt.Errorf("--allow-dir %q: not a folder", d)
		}
		if err := tools.CheckAllowedDir(abs); err != nil {
			return fmt.Errorf("--allow-dir %q: %w", d, err)
		}
		c.allowDirs[i] = abs
	}
	return c.checkHosting()
}

// checkHosting validates the settings of the HTTP transports.
func (c *config) checkHosting() error {
	h := &c.hosting
	if c.transport == "stdio" {
		if h.callerKeys() {
			return errors.New("--key-mode caller needs --transport http or sse (over stdio the key comes from NANOGPT_API_KEY)")
		}
		return nil
	}
	if h.tokenHeader == "" {
		h.tokenHeader = "Authorization"
		if h.callerKeys() {
			h.tokenHeader = "X-MCP-Access-Token"
		}
	}
	for _, t := range h.tokens {
		if err := hosting.CheckToken(t); err != nil {
			return fmt.Errorf("--auth-token: %w", err)
		}
	}
	for flag, o := range map[string]hosting.Options{"--access-token-header": {TokenHeader: h.tokenHeader},
		"--allowed-origin": {AllowedOrigins: h.origins}, "--allowed-host": {AllowedHosts: h.hosts}} {
		if err := o.Validate(); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
	}
	if h.publicURL != "" {
		u, err := url.Parse(h.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return fmt.Errorf("--public-url: %q is not an http(s) URL without a query", h.publicURL)
		}
	}
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return fmt.Errorf("--addr: %q is not host:port", c.addr)
	}
	if len(h.tokens) == 0 && !h.allowNoAuth && !hosting.IsLoopbackHost(host) {
		return fmt.Errorf("refusing to serve %s without access control: anyone who can reach it could use the server. Set NANOGPT_MCP_AUTH_TOKENS (or --auth-token), or pass --allow-no-auth if a proxy or private network in front authenticates callers (docs/HOSTING.md)", c.addr)
	}
	if h.callerKeys() && c.apiKey != "" {
		// Structurally impossible to spend the server's key for a caller.
		c.apiKey, h.serverKeyIgnored = "", true
	}
	return nil
}

// limits are the tools' time limits: each one's own, else def (--timeout).
func (r *reliabilityConfig) limits(def time.Duration) map[string]tools.Limit {
	out := map[string]tools.Limit{"": {Time: def, Setting: "--timeout (NANOGPT_MCP_TIMEOUT)"}}
	for _, s := range tools.Specs() {
		if s.Flag == "" {
			continue
		}
		o := option{name: s.Flag + "-timeout"}
		setting := "--" + o.name + " (" + o.twin() + ")"
		if d, ok := r.toolTimeouts[s.Name]; ok {
			out[s.Name] = tools.Limit{Time: d, Setting: setting}
		} else {
			out[s.Name] = tools.Limit{Time: def, Setting: setting + " or --timeout (NANOGPT_MCP_TIMEOUT)"}
		}
	}
	return out
}

// defaultOutputDir is where generated files go over stdio unless told otherwise.
func defaultOutputDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "nanogpt-mcp")
	}
	return filepath.Join(home, "nanogpt-mcp")
}

func secretsUsage() string {
	var b strings.Builder
	for _, e := range secrets {
		fmt.Fprintf(&b, "  %s\n    \t%s\n", e.name, e.help)
	}
	return b.String()
}

// writeUsage prints --help: what the server is, then every option of the table.
func writeUsage(w io.Writer, opts []option) {
	var toolsLine []string
	for _, s := range tools.Specs() {
		toolsLine = append(toolsLine, s.Name+" ("+s.Summary+")")
	}
	fmt.Fprintf(w, `nanogpt-mcp %s: an MCP server for the NanoGPT API (https://nano-gpt.com).

Tools: %s.

Usage:
  nanogpt-mcp [flags]                 serve MCP over stdio (what desktop assistants run)
  nanogpt-mcp --transport http        serve streamable HTTP at /mcp (and legacy SSE at /sse, /message)

Environment (no flags: secrets do not belong in process lists):
%s
Every flag has an environment twin, shown in brackets; a flag given on the command line wins.
A switch (no argument) stands alone: --stateless, or --stateless=false.

Flags:
`, versionString(), strings.Join(toolsLine, "; "), secretsUsage())
	for _, o := range opts {
		head := "  --" + o.name
		if o.arg != "" {
			head += " " + o.arg
		}
		def := ""
		if o.def != "" {
			def = " (default " + o.def + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s%s [$%s]\n", head, o.help, def, o.twin())
	}
	fmt.Fprintf(w, "  --version\n    \tprint the version and exit\n")
}
