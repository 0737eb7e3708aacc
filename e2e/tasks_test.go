package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// TestTasks runs createVideo as an MCP task with the TypeScript SDK, over
// stdio and streamable HTTP. Over HTTP the task is answered at once, and
// its POST ends long before the video: the task must go on (mcp-go runs it
// in a context derived from the request's, which the Gate detaches).
func TestTasks(t *testing.T) {
	node := requireNode(t)
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	fake.Set(func(d *nanogpttest.Docs) { d.Polls = 10 })
	vars := []string{"NANOGPT_API_KEY=" + serverKey, "NANOGPT_BASE_URL=" + fake.URL, "NANOGPT_MCP_POLL_INTERVAL=20ms"}
	for _, transport := range []string{"stdio", "http"} {
		t.Run(transport, func(t *testing.T) {
			env := serverEnv(vars...)
			if transport == "stdio" {
				env = append(env, "MCP_COMMAND="+bin)
			} else {
				base := startHTTP(t, append(vars, "NANOGPT_MCP_AUTH_TOKENS="+hostToken))
				env = append(env, "MCP_URL="+base, "MCP_TOKEN="+hostToken)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "testdata/node/tasks.mjs")
			cmd.Env = append(env, "PATH="+os.Getenv("PATH"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("node tasks.mjs: %v\n%s\n%s", err, raw, stderr.String())
			}
			var out struct {
				Execution    map[string]any
				Capabilities map[string]any
				Kinds        []string
				Result       *struct {
					IsError bool
					Text    string
				}
				Error string
			}
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			if out.Execution["taskSupport"] != "optional" || out.Capabilities == nil {
				t.Errorf("task support: tool %v, server %v", out.Execution, out.Capabilities)
			}
			if len(out.Kinds) == 0 || out.Kinds[0] != "taskCreated" || !slices.Contains(out.Kinds, "result") {
				t.Errorf("the task stream: %v", out.Kinds)
			}
			if out.Result == nil || out.Result.IsError || !strings.Contains(out.Result.Text, "Created a video with veo2-video") {
				t.Errorf("result %+v, error %q, stream %v", out.Result, out.Error, out.Kinds)
			}
		})
	}
}
