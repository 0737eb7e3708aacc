package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

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
	c, stdout, stderr := startStdio(t, dir, "NANOGPT_BASE_URL="+fake.URL, "NANOGPT_API_KEY="+e2eKey, "NANOGPT_MCP_LOG_LEVEL=debug", "NANOGPT_MCP_ALLOW_DIRS="+dir)
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
		t.Errorf("ask with a local attachment (its folder allowed; a relative path is taken from it): %+v", res)
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
	cmd := exec.Command(bin)
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
	bin := bin
	fake := chatFake(t)
	cmd := exec.Command(node, "testdata/node/stdio.mjs", bin)
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
