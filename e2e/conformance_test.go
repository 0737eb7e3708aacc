package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// conformanceScenarios are the server scenarios of the official MCP
// conformance suite (@modelcontextprotocol/conformance) that need no fixture
// tools of the suite's own, plus the list scenario of each capability the
// server declares (tools).
var conformanceScenarios = []string{
	"server-initialize", "ping", "tools-list", "dns-rebinding-protection", "server-sse-multiple-streams",
}

var passedRE = regexp.MustCompile(`Passed: (\d+)/(\d+), (\d+) failed`)

func TestConformanceSuite(t *testing.T) {
	node := node22(t)
	suite := requireNPM(t, "@modelcontextprotocol", "conformance", "dist", "index.js")
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	// On loopback without access tokens, as the suite expects of a local server.
	base := startHTTP(t, []string{"NANOGPT_API_KEY=" + serverKey, "NANOGPT_BASE_URL=" + fake.URL})
	for _, sc := range conformanceScenarios {
		t.Run(sc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, node, suite, "server", "--url", base+"/mcp", "--scenario", sc).CombinedOutput()
			m := passedRE.FindStringSubmatch(string(out))
			if err != nil || m == nil || m[3] != "0" || m[1] == "0" {
				t.Errorf("scenario %s: %v\n%s", sc, err, tail(string(out), 3000))
			}
		})
	}
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
