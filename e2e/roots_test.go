package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// Issue 11, attack 5: over stdio, local files come only from the folders the
// client declares as its roots (the official Go SDK client answers
// roots/list), never from /, the home folder or /proc; without roots (or
// --allow-dir) a local path gets an error that says how to allow a folder.
func TestLocalFilesFromClientRoots(t *testing.T) {
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	project := t.TempDir()
	if err := os.WriteFile(filepath.Join(project, "notes.txt"), []byte("remember the milk"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("not for you"), 0o600); err != nil {
		t.Fatal(err)
	}
	var lastClient *gosdk.Client
	connect := func(t *testing.T, version string, roots ...string) *gosdk.ClientSession {
		cmd := exec.Command(bin)
		cmd.Dir = "/" // where Claude Desktop starts servers
		cmd.Env = serverEnv("NANOGPT_API_KEY="+serverKey, "NANOGPT_BASE_URL="+fake.URL, "NANOGPT_MCP_OUTPUT_DIR="+t.TempDir())
		client := gosdk.NewClient(&gosdk.Implementation{Name: "roots-e2e", Version: "1"}, nil)
		lastClient = client
		for _, r := range roots {
			client.AddRoots(&gosdk.Root{URI: "file://" + r})
		}
		cs, err := client.Connect(context.Background(), &gosdk.CommandTransport{Command: cmd}, &gosdk.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		return cs
	}
	attach := func(t *testing.T, cs *gosdk.ClientSession, path string) (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		res, err := cs.CallTool(ctx, &gosdk.CallToolParams{Name: "ask", Arguments: map[string]any{
			"model": "m", "userPrompt": "read this", "attachments": []any{map[string]any{"url": path}}}})
		if err != nil {
			t.Fatal(err)
		}
		return !res.IsError, text(res)
	}

	cs := connect(t, v2025, project)
	for _, p := range []string{"notes.txt", filepath.Join(project, "notes.txt"), "file://" + filepath.Join(project, "notes.txt")} {
		if ok, msg := attach(t, cs, p); !ok {
			t.Errorf("%s inside the client's root: %s", p, msg)
		}
	}
	for _, p := range []string{outside, "/proc/self/environ", "/etc/passwd", "../../etc/passwd"} {
		if ok, msg := attach(t, cs, p); ok || !strings.Contains(msg, "outside the allowed folders") && !strings.Contains(msg, "never read") && !strings.Contains(msg, "leads outside") {
			t.Errorf("%s: read (%v): %s", p, ok, msg)
		}
	}

	// The whole disk, the home folder and system folders are never roots.
	home, _ := os.UserHomeDir()
	cs = connect(t, v2025, "/", home, "/etc", "/proc")
	if ok, msg := attach(t, cs, "/proc/self/environ"); ok || !strings.Contains(msg, "--allow-dir") {
		t.Errorf("with / and the home folder as roots: read (%v): %s", ok, msg)
	}
	// No roots: an error that says how to allow a folder.
	cs = connect(t, v2025)
	if ok, msg := attach(t, cs, filepath.Join(project, "notes.txt")); ok || !strings.Contains(msg, "--allow-dir") {
		t.Errorf("without roots: read (%v): %s", ok, msg)
	}
	// The client adds a root: it says its roots changed, and they are asked again.
	lastClient.AddRoots(&gosdk.Root{URI: "file://" + project})
	deadline := time.Now().Add(5 * time.Second)
	for ok := false; !ok; {
		if ok, _ = attach(t, cs, "notes.txt"); !ok && time.Now().After(deadline) {
			t.Fatal("a root added later is not used")
		}
	}
	// The 2026-07-28 era has no server-to-client requests, so no roots/list.
	cs = connect(t, v2026, project)
	if ok, msg := attach(t, cs, filepath.Join(project, "notes.txt")); ok || !strings.Contains(msg, "--allow-dir") {
		t.Errorf("2026-07-28: read (%v): %s", ok, msg)
	}
}
