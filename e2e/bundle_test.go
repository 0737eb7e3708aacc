package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestBundle opens the MCP Bundle that bundle/pack built (MCPB_BUNDLE; CI
// sets it) as Claude Desktop does: the manifest asks for the key as a
// secret and for a folder, and the command it names, with the settings
// substituted, answers MCP over stdio.
func TestBundle(t *testing.T) {
	file := os.Getenv("MCPB_BUNDLE")
	if file == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MCPB_BUNDLE is not set: CI packs the bundle (bundle/pack) before the tests")
		}
		t.Skip("MCPB_BUNDLE is not set (bundle/pack builds one)")
	}
	if runtime.GOOS != "linux" {
		t.Skip("runs the bundle's linux binary")
	}
	zr, err := zip.OpenReader(file)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	dir := t.TempDir()
	for _, f := range zr.File {
		target := filepath.Join(dir, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(target, dir+string(filepath.Separator)) {
			t.Fatalf("%s leaves the bundle", f.Name)
		}
		if f.FileInfo().IsDir() {
			continue
		}
		_ = os.MkdirAll(filepath.Dir(target), 0o755)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if err := os.WriteFile(target, b, f.Mode().Perm()|0o600); err != nil {
			t.Fatal(err)
		}
	}
	var m struct {
		Server struct {
			MCPConfig struct {
				Command string            `json:"command"`
				Args    []string          `json:"args"`
				Env     map[string]string `json:"env"`
			} `json:"mcp_config"`
		} `json:"server"`
		UserConfig map[string]struct {
			Type      string `json:"type"`
			Sensitive bool   `json:"sensitive"`
		} `json:"user_config"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("manifest: %v %s", err, b)
	}
	if k := m.UserConfig["api_key"]; k.Type != "string" || !k.Sensitive {
		t.Errorf("the key is not a sensitive setting: %+v", m.UserConfig)
	}
	if m.UserConfig["allowed_dir"].Type != "directory" {
		t.Errorf("no folder setting: %+v", m.UserConfig)
	}
	files := t.TempDir()
	subst := strings.NewReplacer("${__dirname}", dir, "${user_config.api_key}", e2eKey, "${user_config.allowed_dir}", files)
	args := make([]string, len(m.Server.MCPConfig.Args))
	for i, a := range m.Server.MCPConfig.Args {
		args[i] = subst.Replace(a)
	}
	cmd := exec.Command(subst.Replace(m.Server.MCPConfig.Command), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range m.Server.MCPConfig.Env {
		cmd.Env = append(cmd.Env, k+"="+subst.Replace(v))
	}
	cmd.Stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bundle-test","version":"0"}}}` + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the bundle's command: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the bundle's server did not end with its stdin")
	}
	if !strings.Contains(stdout.String(), `"name":"nanogpt-mcp"`) {
		t.Errorf("initialize: %s\n%s", stdout.String(), stderr.String())
	}
	noSecrets(t, "the bundle's server log", stderr.String())
}
