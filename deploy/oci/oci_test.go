package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestImageRuns builds the image for this machine's architecture, reads the
// OCI layout back, and runs the server from the image's own filesystem: its
// version, and an MCP initialize over stdio as the image's user would.
func TestImageRuns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image is linux; its binary runs here on linux only")
	}
	out := filepath.Join(t.TempDir(), "oci")
	if err := build(options{out: out, archs: []string{runtime.GOARCH}, version: "v0.0.0-test", module: "../.."}); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Platform.Architecture != runtime.GOARCH {
		t.Fatalf("index %+v %v", im, err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || cf.Config.Labels["io.modelcontextprotocol.server.name"] != serverName || cf.Config.Entrypoint[0] != "/nanogpt-mcp" {
		t.Errorf("config %+v", cf.Config)
	}
	mt, _ := img.MediaType()
	if !strings.Contains(string(mt), "oci") {
		t.Errorf("manifest media type %s, want OCI", mt)
	}

	// The image's filesystem, unpacked.
	root := t.TempDir()
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			_ = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			_ = os.MkdirAll(filepath.Dir(target), 0o755)
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(target, b, os.FileMode(h.Mode)); err != nil {
				t.Fatal(err)
			}
		}
	}
	bin := filepath.Join(root, "nanogpt-mcp")
	if b, err := exec.Command(bin, "--version").Output(); err != nil || !strings.Contains(string(b), "v0.0.0-test") {
		t.Fatalf("%s --version: %q %v", bin, b, err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")); err != nil {
		t.Errorf("no CA certificates in the image: %v", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"HOME=/tmp", "SSL_CERT_FILE=" + filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")}
	cmd.Stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"oci-test","version":"0"}}}` + "\n")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the server did not end when stdin did")
	}
	if !strings.Contains(stdout.String(), `"serverInfo":{"name":"nanogpt-mcp","version":"v0.0.0-test"}`) {
		t.Errorf("initialize from the image's binary: %s", stdout.String())
	}
}
