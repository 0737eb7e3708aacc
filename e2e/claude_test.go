package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestClaudeCode adds the built binary to the Claude Code CLI
// (@anthropic-ai/claude-code from npm) the way the README says, with its
// `claude mcp add` line and, through `claude mcp add-json`, each of its JSON
// snippets; `claude mcp list` must report every one connected. Nothing
// reaches Anthropic: the list only starts the servers and speaks MCP.
func TestClaudeCode(t *testing.T) {
	claude := requireNPM(t, ".bin", "claude")
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	home, project, files := t.TempDir(), t.TempDir(), t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, claude, args...)
		cmd.Dir = project
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "NO_COLOR=1"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("claude %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// The README's line, with this build for /path/to/nanogpt-mcp.
	line := regexp.MustCompile(`(?m)^claude mcp add nanogpt .*-- /path/to/nanogpt-mcp.*$`).FindString(string(readme))
	if line == "" {
		t.Fatal("the README has no `claude mcp add nanogpt … -- /path/to/nanogpt-mcp` line")
	}
	args := strings.Fields(strings.ReplaceAll(line, "/path/to/nanogpt-mcp", bin))
	run(args[1:]...)
	names := []string{"nanogpt"}

	// Each JSON snippet's server entry, through add-json.
	for i, block := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		var cfg map[string]map[string]map[string]any
		if err := json.Unmarshal([]byte(block[1]), &cfg); err != nil {
			t.Fatalf("README JSON snippet %d: %v", i, err)
		}
		for _, servers := range cfg {
			for _, entry := range servers {
				entry["command"] = bin
				if a, ok := entry["args"].([]any); ok { // the folder of the snippet is someone's: use one that exists here
					for j := range a {
						if s, _ := a[j].(string); strings.HasPrefix(s, "/Users/") {
							a[j] = files
						}
					}
				}
				b, _ := json.Marshal(entry)
				name := "snippet" + string(rune('a'+i))
				run("mcp", "add-json", name, string(b))
				names = append(names, name)
			}
		}
	}
	if len(names) < 3 {
		t.Fatalf("checked %v: the README's JSON snippets are missing", names)
	}
	list := run("mcp", "list")
	for _, name := range names {
		if !regexp.MustCompile(`(?m)^` + name + `: .*Connected`).MatchString(list) {
			t.Errorf("%s is not connected:\n%s", name, list)
		}
	}
}
