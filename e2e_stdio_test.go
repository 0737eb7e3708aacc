package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

const e2eKey = "sk-nano-e2e-secret-0123456789"

// binary builds nanogpt-mcp once per test run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "nanogpt-mcp-bin")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "nanogpt-mcp")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return path, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

func buildBinary(t *testing.T) string {
	t.Helper()
	path, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in two goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func chatFake(t *testing.T) *nanogpttest.Server {
	fake := nanogpttest.New(e2eKey)
	t.Cleanup(fake.Close)
	fake.Handle("POST /api/v1/chat/completions", nanogpttest.ChatHandler(func(req map[string]any) string {
		msgs := req["messages"].([]any)
		last := msgs[len(msgs)-1].(map[string]any)
		if parts, ok := last["content"].([]any); ok {
			return "parts: " + strings.Repeat("x", len(parts))
		}
		return "echo: " + last["content"].(string)
	}))
	return fake
}

// TestStdioEndToEnd runs the built binary over stdio with mcp-go's client: it
// lists the tools, calls ask (plain, with a local attachment, and invalid), and
// checks that stdout carried only JSON-RPC and stderr never the key.
func TestStdioEndToEnd(t *testing.T) {
	fake := chatFake(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("remember"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, stdout, stderr := startStdio(t, dir, "NANOGPT_BASE_URL="+fake.URL, "NANOGPT_API_KEY="+e2eKey, "NANOGPT_MCP_LOG_LEVEL=debug")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	list, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tool := range list.Tools {
		names[tool.Name] = true
	}
	if !names["ask"] {
		t.Fatalf("tools/list lacks ask: %v", names)
	}

	callAsk := func(args map[string]any) *mcp.CallToolResult {
		var req mcp.CallToolRequest
		req.Params.Name, req.Params.Arguments = "ask", args
		res, err := c.CallTool(ctx, req)
		if err != nil {
			t.Fatalf("ask %v: %v", args, err)
		}
		return res
	}
	if res := callAsk(map[string]any{"model": "m", "userPrompt": "hi"}); res.IsError || mcp.GetTextFromContent(res.Content[0]) != "echo: hi" {
		t.Errorf("ask: %+v", res)
	}
	if res := callAsk(map[string]any{"model": "m", "userPrompt": "read", "attachments": []any{map[string]any{"url": "notes.txt"}}}); res.IsError || mcp.GetTextFromContent(res.Content[0]) != "parts: xx" {
		t.Errorf("ask with a local attachment (working directory allowed by default): %+v", res)
	}
	if res := callAsk(map[string]any{"model": "m", "userPrompt": "x", "temperature": 5}); !res.IsError || !strings.Contains(mcp.GetTextFromContent(res.Content[0]), "temperature") {
		t.Errorf("invalid ask: %+v", res)
	}
	if res := callAsk(map[string]any{"model": "m", "userPrompt": "still serving"}); res.IsError {
		t.Errorf("after an invalid call: %+v", res)
	}

	// Every line the client read from stdout must be JSON-RPC.
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	sc.Buffer(nil, 64<<20)
	lines := 0
	for sc.Scan() {
		var msg struct {
			JSONRPC string `json:"jsonrpc"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil || msg.JSONRPC != "2.0" {
			t.Errorf("stdout carried a non-JSON-RPC line: %q", sc.Text())
		}
		lines++
	}
	if lines < 6 {
		t.Errorf("only %d JSON-RPC lines on stdout", lines)
	}
	if errs := stderr.String(); strings.Contains(errs, e2eKey) || !strings.Contains(errs, "starting") {
		t.Errorf("stderr must log but never show the key:\n%s", errs)
	}
}

// startStdio runs the built binary in dir with env and returns a connected,
// initialized client, and what the process wrote to stdout (as the client read
// it) and to stderr. When the test ends, stdin is closed and the process must
// exit cleanly.
func startStdio(t *testing.T, dir string, env ...string) (c *client.Client, stdout, stderr *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(buildBinary(t))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr = &lockedBuffer{}, &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server exit: %v\nstderr:\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("server did not exit after stdin closed")
		}
	})
	c = client.NewClient(transport.NewIO(io.TeeReader(stdoutPipe, stdout), stdin, io.NopCloser(strings.NewReader(""))),
		client.WithProtocolVersion(mcp.ProtocolVersion20250618))
	initClient(t, c)
	return c, stdout, stderr
}

// initClient starts c and runs the initialize handshake on protocol 2025-06-18.
func initClient(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.ProtocolVersion20250618
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
}

// TestStdioTypeScriptClient drives the binary from the official TypeScript SDK.
func TestStdioTypeScriptClient(t *testing.T) {
	node := requireNode(t)
	bin := buildBinary(t)
	fake := chatFake(t)
	cmd := exec.Command(node, "e2e/testdata/node/stdio.mjs", bin)
	cmd.Env = append(os.Environ(), "NANOGPT_BASE_URL="+fake.URL, "NANOGPT_API_KEY="+e2eKey)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		Server struct{ Name string }
		Tools  []string
		OK     struct {
			IsError    bool
			Text       string
			Structured map[string]any
		}
		Bad struct {
			IsError bool
			Text    string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Server.Name != "nanogpt-mcp" || !strings.Contains(strings.Join(got.Tools, ","), "ask") {
		t.Errorf("server %q tools %v", got.Server.Name, got.Tools)
	}
	if got.OK.IsError || got.OK.Text != "echo: hello from ts" || got.OK.Structured["model"] != "m" {
		t.Errorf("ask from TypeScript: %+v", got.OK)
	}
	if !got.Bad.IsError || !strings.Contains(got.Bad.Text, "temperature: 9 is out of range (allowed: 0 to 2)") {
		t.Errorf("invalid ask from TypeScript: %+v", got.Bad)
	}
	if r, _ := fake.Last("/api/v1/chat/completions"); r.JSON()["temperature"] != 0.0 {
		t.Errorf("temperature 0 from TypeScript did not reach NanoGPT as 0: %s", r.Body)
	}
}

// requireNode returns the node binary when the e2e npm packages are installed.
// In CI (CI=true) their absence is a failure, not a skip.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("e2e", "testdata", "node", "node_modules", "@modelcontextprotocol", "sdk"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node and e2e/node_modules are required in CI (run npm ci --prefix e2e): %v", err)
		}
		t.Skipf("node or e2e/node_modules missing (npm ci --prefix e2e): %v", err)
	}
	return node
}

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
	if cfg, _ := parseConfig(nil, getenv, io.Discard, io.Discard); cfg.timeout != 90*time.Second || len(cfg.allowDirs) != 1 {
		t.Errorf("environment twin ignored or default folder missing: %+v", cfg)
	}
	if strings.Contains(cfg.String(), "k ") || strings.Contains(cfg.String(), "=k") {
		t.Errorf("config string shows the key: %s", cfg)
	}
	for _, bad := range [][]string{{"--transport", "carrier-pigeon"}, {"--timeout", "soon"}, {"--workers", "0"}, {"--log-level", "loud"}, {"--allow-dir", "/no/such/dir"}, {"extra"}} {
		if _, err := parseConfig(bad, getenv, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}
