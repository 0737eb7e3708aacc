package tools

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/nanogpt-mcp/nanogpt-mcp/media"
)

// Output modes for generated media.
const (
	OutputAuto   = "auto"   // inline while it fits; then a file (local) or NanoGPT's URL (hosted)
	OutputInline = "inline" // image or audio content blocks
	OutputFile   = "file"   // written to the output folder; the result names the path
	OutputURL    = "url"    // NanoGPT's URL, when it gave one
)

// maxMediaBytes caps one downloaded image or audio file.
const maxMediaBytes = 64 << 20

// Media is the operator's policy for generated images and audio.
type Media struct {
	Mode      string // the default output mode (auto when empty)
	Dir       string // output folder for file mode; empty: file mode unavailable
	InlineMax int64  // the most base64 bytes one result may carry inline
	Hosted    bool   // served over HTTP: files on the server's disk do not reach the person
}

// mediaItem is one generated image or audio file: its bytes, NanoGPT's URL, or both.
type mediaItem struct {
	data []byte
	mime string
	url  string
}

// Delivered says where one generated file went.
type Delivered struct {
	MimeType string `json:"mimeType" jsonschema_description:"The file's MIME type."`
	Bytes    int    `json:"bytes,omitempty" jsonschema_description:"Its size in bytes, when known."`
	Path     string `json:"path,omitempty" jsonschema_description:"Absolute path of the saved file (file mode)."`
	URL      string `json:"url,omitempty" jsonschema_description:"NanoGPT's URL for the file (url mode); it expires."`
	Inline   bool   `json:"inline,omitempty" jsonschema_description:"True when the file is in this result as an image or audio block."`
	Resource string `json:"resource,omitempty" jsonschema_description:"The file as an MCP resource (resources/read), for a while."`
	Download string `json:"downloadUrl,omitempty" jsonschema_description:"A link a person can open to download the file, until it expires (hosted servers)."`
}

// storedMode is where an item goes that is only kept in the media store:
// read as a resource, or downloaded through its link.
const storedMode = "stored"

type linkBaseKey struct{}

// WithLinkBase gives the calls of a request the server's public address,
// under which the media store's download links are served (hosted).
func WithLinkBase(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, linkBaseKey{}, base)
}

// deliverer delivers the media of one call.
type deliverer struct {
	policy *Media
	c      *call
	mediaKind
}

// mediaKind is how a tool's media comes back, part of its declaration.
type mediaKind struct {
	kind   string // "image", "audio" or "video", for names and text
	expiry string // what is known of how long NanoGPT's URLs last
}

// deliverer delivers the media of this call, of the tool's kind.
func (c *call) deliverer() *deliverer {
	return &deliverer{policy: &c.deps.Media, c: c, mediaKind: c.media}
}

// deliver puts items where mode says, returning the content blocks, a line per
// item for the summary, and what went where. mode "" means the operator's default.
func (d *deliverer) deliver(ctx context.Context, mode string, items []mediaItem) ([]mcp.Content, []string, []Delivered, error) {
	mode, err := d.policy.resolve(mode)
	if err != nil {
		return nil, nil, nil, err
	}
	var (
		blocks []mcp.Content
		lines  []string
		out    []Delivered
	)
	if mode == OutputAuto && d.kind == "video" {
		mode = fallbackMode // files are megabytes: never inline
	} else if mode == OutputAuto {
		mode = d.autoMode(ctx, items)
	}
	for i := range items {
		it := &items[i]
		label := fmt.Sprintf("%s %d", d.kind, i+1)
		if len(items) == 1 {
			label = d.kind
		}
		target := mode
		if target == fallbackMode {
			target = d.fallback(it)
		}
		note := ""
		if target == OutputURL && it.url == "" {
			target, note = d.noURL(), " (NanoGPT returned the bytes, not a URL)"
		}
		if target == OutputInline && d.kind == "video" { // MCP has no video content block
			target = d.fallback(it)
		}
		if target == storedMode && d.c.deps.Store == nil {
			target = OutputURL
		}
		if target != OutputURL && it.data == nil { // file, inline and stored need the bytes
			if err := d.fetch(ctx, it); err != nil {
				d.c.deps.Logger.Warn("media download failed; returning the URL", "kind", d.kind, "err", err)
				target, note = OutputURL, fmt.Sprintf(" (downloading it failed: %v)", err)
			}
		}
		dl := Delivered{MimeType: it.mime, Bytes: len(it.data)}
		var line string
		switch target {
		case OutputURL:
			dl.URL = it.url
			line = fmt.Sprintf("%s: %s at %s%s%s", label, it.mime, it.url, d.expiry, note)
		case OutputFile:
			path, err := d.save(it)
			if err != nil {
				return nil, nil, nil, err
			}
			dl.Path = path
			line = fmt.Sprintf("%s: %s, %s, saved to %s%s", label, it.mime, humanBytes(int64(len(it.data))), path, note)
		case storedMode:
			line = fmt.Sprintf("%s: %s, %s%s", label, it.mime, humanBytes(int64(len(it.data))), note)
		default:
			dl.Inline = true
			b64 := base64.StdEncoding.EncodeToString(it.data)
			if d.kind == "audio" {
				blocks = append(blocks, mcp.NewAudioContent(b64, it.mime))
			} else {
				blocks = append(blocks, mcp.NewImageContent(b64, it.mime))
			}
			line = fmt.Sprintf("%s: %s, %s, shown inline%s", label, it.mime, humanBytes(int64(len(it.data))), note)
		}
		if link := d.keep(ctx, it, &dl, label); link != nil {
			blocks = append(blocks, link)
			line += "; " + d.keptText(&dl)
		}
		lines = append(lines, line)
		out = append(out, dl)
	}
	return blocks, lines, out, nil
}

// keep puts an item whose bytes the server has into the media store, and
// returns its resource link (nil when there is no store, or no bytes).
func (d *deliverer) keep(ctx context.Context, it *mediaItem, dl *Delivered, label string) mcp.Content {
	store := d.c.deps.Store
	if store == nil || it.data == nil {
		return nil
	}
	kept, err := store.Put(d.c.owner, d.kind, extOfMIME[it.mime], it.mime, it.data, dl.Path)
	if err != nil {
		d.c.deps.Logger.Warn("media not kept", "kind", d.kind, "bytes", len(it.data), "err", err)
		return nil
	}
	dl.Resource = media.URI(kept.ID)
	if base, ok := ctx.Value(linkBaseKey{}).(string); ok && base != "" {
		dl.Download = store.Link(base, kept)
	}
	return mcp.NewResourceLink(dl.Resource, kept.Name, "the generated "+label, it.mime)
}

// keptText says where else the item can be read, and until when.
func (d *deliverer) keptText(dl *Delivered) string {
	until := time.Now().Add(d.c.deps.Store.TTL()).UTC().Format("15:04 UTC")
	if dl.Download != "" {
		return fmt.Sprintf("download it (until %s) at %s, or read the resource %s", until, dl.Download, dl.Resource)
	}
	return fmt.Sprintf("also the resource %s (until %s)", dl.Resource, until)
}

// autoMode picks inline when every item fits under the inline cap together;
// otherwise a file when the server runs locally, else NanoGPT's URLs.
func (d *deliverer) autoMode(ctx context.Context, items []mediaItem) string {
	total := int64(0)
	for i := range items {
		if items[i].data == nil && d.fetch(ctx, &items[i]) != nil {
			return fallbackMode
		}
		total += int64(base64.StdEncoding.EncodedLen(len(items[i].data)))
	}
	if total <= d.policy.InlineMax {
		return OutputInline
	}
	return fallbackMode
}

// resolve turns a call's output parameter ("" for the operator's default) into
// the mode to use, refusing file mode when no output folder is configured. Tools
// call it before paying for a request, and deliver again.
func (m *Media) resolve(mode string) (string, error) {
	mode = cmp.Or(mode, m.Mode, OutputAuto)
	if mode == OutputFile && m.Dir == "" {
		return "", invalid("output: file mode is not available on this server (no output folder is configured); use inline or url")
	}
	return mode, nil
}

// noURL is where an item goes that should be a URL but came as bytes only: a
// file when the server runs locally with an output folder, else the media
// store (a resource, and when hosted a download link), else inline.
func (d *deliverer) noURL() string {
	switch {
	case !d.policy.Hosted && d.policy.Dir != "":
		return OutputFile
	case d.c.deps.Store != nil:
		return storedMode
	}
	return OutputInline
}

// fallbackMode is auto's choice when the media may not go inline: where is
// then each item's own (fallback).
const fallbackMode = "fallback"

// fallback is where an item goes that may not go inline (too big, or a
// video): a file when the server runs locally with an output folder;
// hosted, NanoGPT's URL when it gave one (not for videos, whose URLs'
// lifetime is not documented), else the media store's link; locally
// without a folder, the store (videos) or inline.
func (d *deliverer) fallback(it *mediaItem) string {
	switch {
	case !d.policy.Hosted && d.policy.Dir != "":
		return OutputFile
	case d.policy.Hosted && it.url != "" && d.kind != "video":
		return OutputURL
	case d.policy.Hosted || d.kind == "video":
		return storedMode
	}
	return OutputInline
}

// fetch downloads an item's URL from NanoGPT's storage and sniffs its type.
func (d *deliverer) fetch(ctx context.Context, it *mediaItem) error {
	if it.data != nil {
		return nil
	}
	if it.url == "" {
		return errors.New("no data and no URL")
	}
	data, ctype, err := d.c.client.Download(ctx, it.url, maxMediaBytes)
	if err != nil {
		return err
	}
	it.data = data
	// Storage often labels files application/octet-stream: keep the type
	// known so far unless the download names an image or audio type.
	declared := normMIME(ctype)
	if !strings.HasPrefix(declared, d.kind+"/") {
		declared = ""
	}
	it.mime = mediaType(data, cmp.Or(declared, it.mime))
	return nil
}

// save writes an item to the output folder under a new, unique, safe name.
func (d *deliverer) save(it *mediaItem) (string, error) {
	dir, err := filepath.Abs(d.policy.Dir) // the result names an absolute path, and file:// URLs need one
	if err != nil {
		return "", fmt.Errorf("the output folder %s: %w", d.policy.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the output folder %s: %w", dir, err)
	}
	ext := cmp.Or(extOfMIME[it.mime], "bin")
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	base := fmt.Sprintf("%s-%s-%s", d.kind, time.Now().Format("20060102-150405"), hex.EncodeToString(rnd[:]))
	for n := 0; ; n++ {
		name := base + "." + ext
		if n > 0 {
			name = fmt.Sprintf("%s-%d.%s", base, n, ext)
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("save %s: %w", path, err)
		}
		if _, err := f.Write(it.data); err != nil {
			f.Close()
			return "", fmt.Errorf("save %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("save %s: %w", path, err)
		}
		return path, nil
	}
}

// mediaType sniffs the type of generated bytes, falling back to declared.
func mediaType(data []byte, declared string) string {
	if len(data) > 0 {
		sniffed := normMIME(http.DetectContentType(data))
		if strings.HasPrefix(sniffed, "image/") || strings.HasPrefix(sniffed, "audio/") || strings.HasPrefix(sniffed, "video/") {
			if sniffed == "audio/wave" {
				sniffed = "audio/wav"
			}
			return sniffed
		}
	}
	return cmp.Or(declared, "application/octet-stream")
}

// costText renders a reported cost for the summary line.
func costText(amount *float64, currency string) string {
	if amount == nil {
		return ""
	}
	return fmt.Sprintf("; cost %s %.6g", cmp.Or(currency, "USD"), *amount)
}

// pathExt is the extension of a URL's path (without its query).
func pathExt(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return path.Ext(u.Path)
}

// fileURLOf is the file:// URL of an absolute path ("" for "").
func fileURLOf(p string) string {
	if p == "" {
		return ""
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String()
}
