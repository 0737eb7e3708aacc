package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

func TestHelpAndVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "help") {
		t.Fatalf("--help: %v", err)
	}
	help := errOut.String()
	for _, want := range []string{"NANOGPT_API_KEY", "NANOGPT_BASE_URL", "NANOGPT_MCP_TRANSPORT", "NANOGPT_MCP_ADDR", "NANOGPT_MCP_ALLOW_DIRS", "NANOGPT_MCP_TIMEOUT", "--transport", "stdio|sse|http"} {
		if !strings.Contains(help, strings.TrimPrefix(want, "-")) {
			t.Errorf("--help does not mention %s", want)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"--version"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err == nil || !strings.HasPrefix(out.String(), "nanogpt-mcp ") {
		t.Errorf("--version printed %q (err %v)", out.String(), err)
	}
}

func TestConfigFromFlagsAndEnvironment(t *testing.T) {
	env := map[string]string{"NANOGPT_MCP_TIMEOUT": "90s", "NANOGPT_MCP_TRANSPORT": "stdio", "NANOGPT_API_KEY": "k"}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseConfig([]string{"--timeout", "2m"}, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.timeout != 2*time.Minute {
		t.Errorf("a flag must win over its environment twin: timeout %s", cfg.timeout)
	}
	// No folder is allowed by default (issue 11, attack 5): over stdio the
	// client's roots are, when it declares them.
	if cfg, _ := parseConfig(nil, getenv, io.Discard, io.Discard); cfg.timeout != 90*time.Second || len(cfg.allowDirs) != 0 {
		t.Errorf("environment twin ignored, or a folder allowed by default: %+v", cfg)
	}
	if strings.Contains(cfg.String(), "k ") || strings.Contains(cfg.String(), "=k") {
		t.Errorf("config string shows the key: %s", cfg)
	}
	for _, bad := range [][]string{{"--transport", "carrier-pigeon"}, {"--timeout", "soon"}, {"--workers", "0"}, {"--log-level", "loud"}, {"--allow-dir", "/no/such/dir"},
		{"--allow-dir", "/"}, {"--allow-dir", "/proc"}, {"--allow-dir", "/proc/self"}, {"--allow-dir", "/sys"}, {"--allow-dir", "/dev"}, {"extra"}} {
		if _, err := parseConfig(bad, getenv, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// Secrets the hosted tests use; none may ever show up in a log or an answer.
const (
	hostToken  = "access-token-0123456789abcdef"
	hostToken2 = "access-token-fedcba9876543210"
	serverKey  = "sk-server-key-never-for-callers"
	aliceKey   = "sk-alice-0123456789"
	bobKey     = "sk-bob-0123456789"
)

func TestHostingConfig(t *testing.T) {
	parse := func(args []string, env map[string]string) (config, error) {
		return parseConfig(args, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}
	// A non-loopback address needs tokens, or an explicit --allow-no-auth.
	_, err := parse([]string{"--transport", "http", "--addr", "0.0.0.0:8080"}, nil)
	if err == nil || !strings.Contains(err.Error(), "--allow-no-auth") {
		t.Errorf("public bind without tokens: %v", err)
	}
	if _, err := parse([]string{"--transport", "sse", "--addr", ":8080", "--allow-no-auth"}, nil); err != nil {
		t.Errorf("--allow-no-auth: %v", err)
	}
	if _, err := parse([]string{"--transport", "http", "--addr", "0.0.0.0:8080"}, map[string]string{"NANOGPT_MCP_ALLOW_NO_AUTH": "true"}); err != nil {
		t.Errorf("$NANOGPT_MCP_ALLOW_NO_AUTH: %v", err)
	}
	if _, err := parse([]string{"--transport", "http", "--addr", "localhost:8080"}, nil); err != nil {
		t.Errorf("loopback without tokens: %v", err)
	}
	cfg, err := parse([]string{"--transport", "http", "--addr", "0.0.0.0:8080"}, map[string]string{"NANOGPT_MCP_AUTH_TOKENS": hostToken + " , " + hostToken2})
	if err != nil || len(cfg.hosting.tokens) != 2 || cfg.hosting.tokenHeader != "Authorization" {
		t.Errorf("tokens from the environment: %v %d %q", err, len(cfg.hosting.tokens), cfg.hosting.tokenHeader)
	}
	cfg, _ = parse([]string{"--transport", "http", "--auth-token", hostToken}, map[string]string{"NANOGPT_MCP_AUTH_TOKENS": hostToken2})
	if len(cfg.hosting.tokens) != 1 || cfg.hosting.tokens[0] != hostToken {
		t.Errorf("a flag must win over its environment twin: %d tokens", len(cfg.hosting.tokens))
	}
	if _, err := parse([]string{"--transport", "http", "--auth-token", "tiny"}, nil); err == nil || strings.Contains(err.Error(), "tiny") {
		t.Errorf("short token: %v", err)
	}
	// Per-caller keys: not over stdio; the server's key is dropped.
	if _, err := parse([]string{"--key-mode", "caller"}, nil); err == nil {
		t.Error("--key-mode caller over stdio accepted")
	}
	if _, err := parse([]string{"--transport", "http", "--key-mode", "both"}, nil); err == nil {
		t.Error("--key-mode both accepted")
	}
	cfg, err = parse([]string{"--transport", "http"}, map[string]string{"NANOGPT_MCP_KEY_MODE": "caller", "NANOGPT_API_KEY": serverKey})
	if err != nil || cfg.apiKey != "" || !cfg.hosting.serverKeyIgnored || cfg.hosting.tokenHeader != "X-MCP-Access-Token" {
		t.Errorf("caller mode: %v key dropped=%v header %q", err, cfg.apiKey == "", cfg.hosting.tokenHeader)
	}
	// Limits and durations.
	cfg, err = parse([]string{"--transport", "http", "--max-body", "2MiB", "--rate-limit", "0", "--max-concurrent", "3", "--stateless", "--shutdown-timeout", "5s"}, map[string]string{"NANOGPT_MCP_IDLE_TIMEOUT": "90s"})
	if err != nil || cfg.hosting.maxBody != 2<<20 || cfg.hosting.rateLimit != 0 || cfg.hosting.maxConcurrent != 3 || !cfg.hosting.stateless ||
		cfg.hosting.shutdownTimeout != 5*time.Second || cfg.hosting.idleTimeout != 90*time.Second || cfg.hosting.readHeaderTimeout != 10*time.Second {
		t.Errorf("limits: %v %+v", err, cfg.hosting)
	}
	for _, bad := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--max-body", "lots"}, nil},
		{[]string{"--max-body", "12"}, nil},
		{[]string{"--rate-limit", "-1"}, nil},
		{[]string{"--max-concurrent", "x"}, nil},
		{[]string{"--shutdown-timeout", "0s"}, nil},
		{[]string{"--allowed-origin", "evil.example"}, nil},
		{[]string{"--allowed-host", "*.example.com"}, nil},
		{[]string{"--public-url", "ftp://x"}, nil},
		{[]string{"--access-token-header", "Bad Header"}, nil},
		{[]string{"--addr", "nonsense"}, nil},
		{nil, map[string]string{"NANOGPT_MCP_STATELESS": "maybe"}},
	} {
		if _, err := parse(append([]string{"--transport", "http"}, bad.args...), bad.env); err == nil {
			t.Errorf("%v %v accepted", bad.args, bad.env)
		}
	}
	for in, want := range map[string]int64{"1048576": 1 << 20, "16MiB": 16 << 20, "512KiB": 512 << 10, "1G": 1 << 30, "2 mb": 2 << 20, "100B": 100} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
}

func TestHostingHelp(t *testing.T) {
	var errOut bytes.Buffer
	env := map[string]string{"NANOGPT_MCP_AUTH_TOKENS": hostToken}
	_ = run(context.Background(), []string{"--help"}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, &errOut)
	help := errOut.String()
	for _, want := range []string{"--auth-token", "$NANOGPT_MCP_AUTH_TOKENS", "--allow-no-auth", "$NANOGPT_MCP_ALLOW_NO_AUTH", "--key-mode", "$NANOGPT_MCP_KEY_MODE",
		"--access-token-header", "$NANOGPT_MCP_ACCESS_TOKEN_HEADER", "X-MCP-Access-Token", "--allowed-origin", "$NANOGPT_MCP_ALLOWED_ORIGINS", "--allowed-host", "$NANOGPT_MCP_ALLOWED_HOSTS",
		"--public-url", "$NANOGPT_MCP_PUBLIC_URL", "--max-body", "$NANOGPT_MCP_MAX_BODY", "--rate-limit", "$NANOGPT_MCP_RATE_LIMIT", "--max-concurrent", "$NANOGPT_MCP_MAX_CONCURRENT",
		"--stateless", "$NANOGPT_MCP_STATELESS", "--shutdown-timeout", "$NANOGPT_MCP_SHUTDOWN_TIMEOUT", "--read-header-timeout", "$NANOGPT_MCP_READ_HEADER_TIMEOUT", "--idle-timeout", "$NANOGPT_MCP_IDLE_TIMEOUT"} {
		if !strings.Contains(help, strings.TrimPrefix(want, "-")) {
			t.Errorf("--help lacks %s", want)
		}
	}
	if strings.Contains(help, hostToken) {
		t.Error("--help shows a token from the environment")
	}
}

// TestCallerKeyContext: in caller mode a request with no key reaches the tools
// as "no key", never as the server's key.
func TestCallerKeyContext(t *testing.T) {
	server := nanogpt.New(nanogpt.Config{APIKey: serverKey})
	if c, _ := clientFor(config{}, server)(context.Background()); c != server {
		t.Error("server mode: the server's client expected")
	}
	caller := config{hosting: hostingConfig{keyMode: "caller"}}
	if c, _ := clientFor(caller, server)(context.Background()); c.HasKey() {
		t.Error("caller mode with no caller key must have no key, never the server's")
	}
}

func TestHostingConfigHidesTokens(t *testing.T) {
	cfg, err := parseConfig([]string{"--transport", "http"}, func(k string) string {
		return map[string]string{"NANOGPT_MCP_AUTH_TOKENS": hostToken}[k]
	}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg.hosting), fmt.Sprintf("%+v", cfg.hosting)} {
		if strings.Contains(s, hostToken) {
			t.Errorf("printed configuration shows a token: %s", s)
		}
	}
}

func TestRelConfigFlags(t *testing.T) {
	env := map[string]string{"NANOGPT_MCP_SPEECH_TIMEOUT": "20m", "NANOGPT_MCP_RETRIES": "5", "NANOGPT_MCP_IMAGE_TIMEOUT": "1m"}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseConfig([]string{"--timeout", "90s", "--image-timeout", "15m", "--retry-max-wait", "5s"}, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.reliability
	if r.retry.Retries != 5 || r.retry.MaxDelay != 5*time.Second {
		t.Errorf("retry policy %+v", r.retry)
	}
	limits := r.limits(cfg.timeout)
	for tool, want := range map[string]time.Duration{"": 90 * time.Second, "ask": 90 * time.Second, "createImage": 15 * time.Minute, "createSpeech": 20 * time.Minute, "createTranscription": 10 * time.Minute} {
		if limits[tool].Time != want {
			t.Errorf("%q limit %s, want %s", tool, limits[tool].Time, want)
		}
	}
	if s := limits["createImage"].Setting; s != "--image-timeout (NANOGPT_MCP_IMAGE_TIMEOUT)" {
		t.Errorf("createImage setting %q", s)
	}
	if s := limits["ask"].Setting; !strings.Contains(s, "--ask-timeout") || !strings.Contains(s, "--timeout") {
		t.Errorf("ask setting %q", s)
	}
	if cfg, _ := parseConfig(nil, func(string) string { return "" }, io.Discard, io.Discard); cfg.reliability.retry.Retries != 2 || cfg.reliability.retry.MaxDelay != 30*time.Second {
		t.Errorf("default retry policy %+v", cfg.reliability.retry)
	}
	for _, bad := range [][]string{{"--retries", "-1"}, {"--retries", "11"}, {"--retries", "x"}, {"--retry-max-wait", "0s"}, {"--image-timeout", "soon"}, {"--ask-timeout", "-1s"}} {
		if _, err := parseConfig(bad, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// Switches stand alone on the command line (issue 14's first-hour finding);
// their environment twins take true or false.
func TestSwitchesStandAlone(t *testing.T) {
	none := func(string) string { return "" }
	if cfg, err := parseConfig([]string{"--allow-private-urls"}, none, io.Discard, io.Discard); err != nil || !cfg.allowPrivate {
		t.Errorf("--allow-private-urls alone: %v, %v", err, cfg.allowPrivate)
	}
	if cfg, err := parseConfig([]string{"--allow-private-urls=false"}, func(k string) string {
		return map[string]string{"NANOGPT_MCP_ALLOW_PRIVATE_URLS": "true"}[k]
	}, io.Discard, io.Discard); err != nil || cfg.allowPrivate {
		t.Errorf("--allow-private-urls=false over a true twin: %v, %v", err, cfg.allowPrivate)
	}
	if cfg, err := parseConfig([]string{"--transport", "http", "--stateless", "--allow-no-auth", "--addr", "0.0.0.0:9"}, none, io.Discard, io.Discard); err != nil || !cfg.hosting.stateless || !cfg.hosting.allowNoAuth {
		t.Errorf("--stateless --allow-no-auth: %v, %+v", err, cfg.hosting)
	}
	_, err := parseConfig(nil, func(k string) string { return map[string]string{"NANOGPT_MCP_STATELESS": "yes please"}[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "$NANOGPT_MCP_STATELESS") {
		t.Errorf("a bad twin: %v", err)
	}
}

// --help names every tool, from the tools' own specs.
func TestHelpNamesEveryTool(t *testing.T) {
	var help strings.Builder
	_, _ = parseConfig([]string{"--help"}, func(string) string { return "" }, &help, &help)
	for _, name := range tools.Names() {
		if !strings.Contains(help.String(), name+" (") {
			t.Errorf("--help's tools line lacks %s:\n%.400s", name, help.String())
		}
	}
}

// Started over stdio from a terminal, the server says on stderr what it is
// waiting for; from a client's pipe it says nothing of the kind.
func TestStdioTerminalHint(t *testing.T) {
	tty, err := os.Open(os.DevNull) // a character device, as a terminal is
	if err != nil {
		t.Skip(err)
	}
	defer tty.Close()
	pr, pw, _ := os.Pipe()
	pw.Close()
	defer pr.Close()
	for _, tc := range []struct {
		stdin *os.File
		want  bool
	}{{tty, true}, {pr, false}} {
		var stderr, stdout bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = run(ctx, nil, func(string) string { return "" }, tc.stdin, &stdout, &stderr)
		cancel()
		if got := strings.Contains(stderr.String(), "waiting for an MCP client on stdin"); got != tc.want {
			t.Errorf("stdin %s: hint %v, want %v:\n%s", tc.stdin.Name(), got, tc.want, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("stdout: %q", stdout.String())
		}
	}
}
