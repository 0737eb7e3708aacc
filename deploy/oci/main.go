// Command oci builds the nanogpt-mcp container image without a Docker daemon:
// an OCI image layout (a folder that registries' tools such as crane, skopeo
// or podman push and run) holding, for each architecture, one layer with the
// static binary and the CA certificates, run as the non-root user 65532.
//
//	go run ./deploy/oci -o nanogpt-mcp-oci [-arch amd64,arm64] [-version v1.2.3]
//	crane push nanogpt-mcp-oci registry.example.com/nanogpt-mcp:v1.2.3    # or: skopeo copy oci:nanogpt-mcp-oci docker://…
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// serverName is the server's name in the MCP Registry (server.json), which
// the registry finds on the image as the label io.modelcontextprotocol.server.name.
const serverName = "io.github.nanogpt-mcp/nanogpt-mcp"

// caBundles are where build hosts keep the CA certificates that the image
// copies (the binary calls NanoGPT over HTTPS).
var caBundles = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}

type options struct {
	out     string
	archs   []string
	version string
	module  string // the folder of the module to build
}

func main() {
	var o options
	arch := flag.String("arch", "amd64,arm64", "architectures, comma-separated (linux only)")
	flag.StringVar(&o.out, "o", "nanogpt-mcp-oci", "the OCI image layout folder to write (replaced)")
	flag.StringVar(&o.version, "version", "dev", "the version stamped in the binary and the labels")
	flag.StringVar(&o.module, "C", ".", "the module to build")
	flag.Parse()
	o.archs = strings.Split(*arch, ",")
	if err := build(o); err != nil {
		fmt.Fprintln(os.Stderr, "oci:", err)
		os.Exit(1)
	}
}

func build(o options) error {
	certs, err := readFirst(caBundles)
	if err != nil {
		return fmt.Errorf("no CA certificates on this machine to put in the image: %w", err)
	}
	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	p, err := layout.Write(o.out, empty.Index)
	if err != nil {
		return err
	}
	for _, arch := range o.archs {
		bin, err := goBuild(o.module, arch, o.version)
		if err != nil {
			return err
		}
		img, err := image(bin, certs, arch, o.version)
		if err != nil {
			return err
		}
		if err := p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: arch})); err != nil {
			return err
		}
	}
	return nil
}

// goBuild builds the static binary for linux/arch and returns its bytes.
func goBuild(module, arch, version string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "nanogpt-mcp-oci-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "nanogpt-mcp")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", out, ".")
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build for linux/%s: %w", arch, err)
	}
	return os.ReadFile(out)
}

// image is one architecture's image: the binary and the certificates on an
// empty base, the server's defaults for hosting, and the labels.
func image(bin, certs []byte, arch, version string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/ssl/certs/ca-certificates.crt", 0o644, certs},
		{"nanogpt-mcp", 0o755, bin},
	} {
		dir := filepath.Dir(f.name)
		for _, d := range parents(dir) {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch}); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config = v1.Config{
		User:         "65532:65532",
		Entrypoint:   []string{"/nanogpt-mcp"},
		Cmd:          []string{"--transport", "http", "--addr", "0.0.0.0:8080"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Env:          []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels: map[string]string{
			"io.modelcontextprotocol.server.name": serverName,
			"org.opencontainers.image.title":      "nanogpt-mcp",
			"org.opencontainers.image.version":    version,
			"org.opencontainers.image.source":     "https://github.com/nanogpt-mcp/nanogpt-mcp",
		},
	}
	return mutate.ConfigFile(img, cf)
}

// parents lists dir and the folders above it, outermost first ("a/b" → a, a/b).
func parents(dir string) []string {
	if dir == "." || dir == "" {
		return nil
	}
	return append(parents(filepath.Dir(dir)), filepath.ToSlash(dir))
}

func readFirst(paths []string) ([]byte, error) {
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			return b, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}
