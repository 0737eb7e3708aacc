// Package e2e runs the built binary against clients written by others (the
// official MCP Go SDK, the TypeScript SDK) and a fake NanoGPT that is as
// strict as NanoGPT's documentation.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// bin is the binary under test, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	if bin = os.Getenv("NANOGPT_MCP_E2E_BIN"); bin != "" {
		// Run the suite against another build (an older one, to see a test
		// fail before its fix).
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "nanogpt-mcp-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "nanogpt-mcp")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Secrets the tests use; none may ever show up in a log or an answer.
const (
	serverKey  = "sk-nano-server-key-never-for-callers"
	token      = "access-token-0123456789abcdef"
	hostToken  = token
	hostToken2 = "access-token-fedcba9876543210"
	aliceKey   = "sk-alice-0123456789"
	bobKey     = "sk-bob-0123456789"
	e2eKey     = "sk-nano-e2e-secret-0123456789"
)

var secrets = []string{serverKey, hostToken, hostToken2, aliceKey, bobKey, e2eKey}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// serverEnv is the environment of a server under test: the test's own, without
// any NANOGPT_ variable, plus vars.
func serverEnv(vars ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NANOGPT_") {
			out = append(out, kv)
		}
	}
	return append(out, vars...)
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startHTTP starts the binary over HTTP on a free loopback port and returns
// its base URL. It is stopped, and its log checked for secrets, when the
// test ends.
func startHTTP(t *testing.T, vars []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--transport", "http", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = serverEnv(vars...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		noSecrets(t, "the server's log", stderr.String())
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := listeningRE.FindStringSubmatch(stderr.String()); m != nil {
			return "http://" + m[1]
		}
		select {
		case <-exited:
			t.Fatalf("exited: %v\n%s", exitErr, stderr.String())
		default:
		}
	}
	t.Fatalf("did not start:\n%s", stderr.String())
	return ""
}

// noSecrets fails when text shows a secret of the tests.
func noSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows a secret (%s...)", what, s[:8])
		}
	}
}
