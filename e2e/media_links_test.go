package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// TestHostedMedia: over streamable HTTP, the TypeScript SDK client lists and
// reads the generated files back byte for byte; their download links work
// without a token, and not once changed; another caller neither lists nor
// reads them. (The Go SDK client does the same on every transport:
// checkMediaResources.)
func TestHostedMedia(t *testing.T) {
	node := requireNode(t)
	f := startFront(t, "--poll-interval", "10ms")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/node/media.mjs")
	cmd.Env = append(os.Environ(), "MCP_URL="+f.url, "MCP_TOKEN="+hostToken)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node media.mjs: %v\n%s\n%s", err, raw, stderr.String())
	}
	var out struct {
		Links []struct {
			URI      string `json:"uri"`
			MimeType string `json:"mimeType"`
		}
		Downloads []string
		Listed    []string
		Reads     map[string]struct {
			MimeType string `json:"mimeType"`
			Blob     string `json:"blob"`
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	want := map[string][]byte{"image/png": nanogpttest.PNG, "video/mp4": nanogpttest.Video}
	if len(out.Links) != 2 || len(out.Downloads) != 2 {
		t.Fatalf("links %+v, downloads %v", out.Links, out.Downloads)
	}
	for _, l := range out.Links {
		got, _ := base64.StdEncoding.DecodeString(out.Reads[l.URI].Blob)
		if !bytes.Equal(got, want[l.MimeType]) || out.Reads[l.URI].MimeType != l.MimeType {
			t.Errorf("resources/read %s: %s, %d bytes", l.URI, out.Reads[l.URI].MimeType, len(got))
		}
		if !strings.Contains(strings.Join(out.Listed, " "), l.URI) {
			t.Errorf("%s is not listed: %v", l.URI, out.Listed)
		}
	}

	for _, link := range out.Downloads {
		resp, body := download(t, link)
		ctype := resp.Header.Get("Content-Type")
		if resp.StatusCode != 200 || !bytes.Equal(body, want[ctype]) || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline; filename=") {
			t.Errorf("GET %s without a token: %d %s, %d bytes", link, resp.StatusCode, ctype, len(body))
		}
		u, _ := url.Parse(link)
		q := u.Query()
		q.Set("s", strings.Repeat("A", len(q.Get("s"))))
		u.RawQuery = q.Encode()
		if resp, _ := download(t, u.String()); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a changed signature: %d", resp.StatusCode)
		}
	}

	// Another caller: not listed, not readable.
	_, list := f.call(hostToken2, `{"jsonrpc":"2.0","id":7,"method":"resources/list","params":{}}`)
	for _, l := range out.Links {
		if strings.Contains(list, l.URI) {
			t.Errorf("another caller lists %s: %s", l.URI, list)
		}
		if _, read := f.call(hostToken2, `{"jsonrpc":"2.0","id":8,"method":"resources/read","params":{"uri":"`+l.URI+`"}}`); !strings.Contains(read, `"error"`) || strings.Contains(read, `"blob"`) {
			t.Errorf("another caller reads %s: %.300s", l.URI, read)
		}
	}
}

func download(t *testing.T, link string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
