package tools

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
)

// FileEntry is the reference component's FILE_ENTRY object.
type FileEntry struct {
	URL       string `json:"url" jsonschema_description:"https:// or data: URL, or a local path (local server)."`
	Name      string `json:"name,omitempty" jsonschema_description:"File name."`
	MimeType  string `json:"mimeType,omitempty" jsonschema_description:"MIME type; else guessed."`
	Extension string `json:"extension,omitempty" jsonschema_description:"Extension."`
}

// Files decides where input files may come from: local folders and fetched URLs.
type Files struct {
	// Roots are the absolute folders the operator allows (--allow-dir),
	// checked with CheckAllowedDir. A relative path is taken from the first.
	Roots []string
	// ClientRoots, when set (over stdio), gives the client's roots for a
	// call; they are read when the operator allows no folder.
	ClientRoots func(ctx context.Context) []string
	// Hosted callers are remote: messages name no folder of the server's.
	Hosted bool
	// Fetch downloads https URLs when the server itself needs the bytes.
	Fetch *Fetcher
}

// roots are the folders a call may read from.
func (f *Files) roots(ctx context.Context) []string {
	if len(f.Roots) > 0 || f.ClientRoots == nil {
		return f.Roots
	}
	return f.ClientRoots(ctx)
}

// input is a resolved FILE_ENTRY: either a remote https URL left for NanoGPT to
// fetch, or the file's bytes.
type input struct {
	url  string // the https URL, for a remote file
	data []byte // the bytes, for data:, local and fetched files
	mime string // best knowledge of the type; may be empty for a remote file
	name string // a display name
}

func (in *input) remote() bool { return in.data == nil }

// dataURL returns the file as a data: URL.
func (in *input) dataURL() string {
	return "data:" + in.mime + ";base64," + base64.StdEncoding.EncodeToString(in.data)
}

var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+):`)

// open resolves e. A remote https URL stays remote; data: URLs and local files
// are read, up to max bytes. param names the argument in error messages.
func (f *Files) open(ctx context.Context, e FileEntry, param string, max int64) (*input, error) {
	raw := strings.TrimSpace(e.URL)
	if raw == "" {
		return nil, invalid("%s.url: required (an https:// URL, a data: URL or a local path)", param)
	}
	in := &input{name: e.Name}
	if lifted, ok := liftedFrom(ctx, raw); ok {
		return in, in.fromLifted(e, lifted, param, max)
	}
	// Only the scheme is compared: lower-casing all of a large data: URL would copy it.
	lower := strings.ToLower(raw[:min(len(raw), len("https://"))])
	switch {
	case strings.HasPrefix(lower, "https://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, invalid("%s.url: %q is not a valid URL", param, raw)
		}
		in.url = raw
		in.mime = guessMIME(e, path.Ext(u.Path))
		if in.name == "" {
			in.name = path.Base(u.Path)
			if in.name == "." || in.name == "/" { // https://host or https://host/
				in.name = "attachment"
			}
		}
		return in, nil
	case strings.HasPrefix(lower, "data:"):
		mt, data, err := parseDataURL(raw, max)
		if err != nil {
			return nil, invalidCause(err, "%s.url: %v", param, err)
		}
		in.data = data
		in.mime = cmp.Or(normMIME(e.MimeType), mt, guessMIME(e, ""), normMIME(http.DetectContentType(data)))
		if in.name == "" {
			in.name = "attachment"
		}
		return in, nil
	case strings.HasPrefix(lower, "file:"): // file:///a/b, also file:/a/b
		p, err := fileURLPath(raw)
		if err != nil {
			return nil, invalidCause(err, "%s.url: %v", param, err)
		}
		return f.readLocal(ctx, in, e, p, param, max)
	}
	if m := schemeRE.FindStringSubmatch(raw); m != nil {
		return nil, invalid("%s.url: the %q scheme is not supported (allowed: https://, data:, a local path or file://)", param, strings.ToLower(m[1]))
	}
	return f.readLocal(ctx, in, e, raw, param, max)
}

// Lifted is a data: URL that the transport took out of the request before
// it was parsed (a large payload, kept once instead of copied by every parse:
// see package stdio), and left a reference to in its place.
type Lifted interface {
	Header() string                   // what stood between "data:" and the comma, e.g. "audio/wav;base64"
	Decode(max int64) ([]byte, error) // the payload's bytes, refusing more than max
}

type liftedKey struct{}

// WithLifted returns a context in which file URLs are first looked up with
// resolve, for the references a transport left in place of lifted data: URLs.
func WithLifted(ctx context.Context, resolve func(ref string) (Lifted, bool)) context.Context {
	return context.WithValue(ctx, liftedKey{}, resolve)
}

func liftedFrom(ctx context.Context, ref string) (Lifted, bool) {
	resolve, _ := ctx.Value(liftedKey{}).(func(string) (Lifted, bool))
	if resolve == nil {
		return nil, false
	}
	return resolve(ref)
}

// fromLifted reads a lifted data: URL as parseDataURL reads one in the line.
func (in *input) fromLifted(e FileEntry, l Lifted, param string, max int64) error {
	data, err := l.Decode(max)
	if err != nil {
		var big interface{ TooLarge() bool }
		if errors.As(err, &big) && big.TooLarge() {
			err = tooLarge("the data is larger than %s", humanBytes(max))
		}
		return invalidCause(err, "%s.url: %v", param, err)
	}
	mt := normMIME(strings.Split(l.Header(), ";")[0])
	in.data = data
	in.mime = cmp.Or(normMIME(e.MimeType), mt, guessMIME(e, ""), normMIME(http.DetectContentType(data)))
	if in.name == "" {
		in.name = "attachment"
	}
	return nil
}

// load is open, but also downloads a remote URL (through the guarded fetcher).
func (f *Files) load(ctx context.Context, e FileEntry, param string, max int64) (*input, error) {
	in, err := f.open(ctx, e, param, max)
	if err != nil || !in.remote() {
		return in, err
	}
	if f.Fetch == nil {
		return nil, invalid("%s.url: this server does not download URLs; pass a data: URL", param)
	}
	data, ctype, err := f.Fetch.Get(ctx, in.url, max)
	if err != nil {
		var fe *FetchError
		if errors.As(err, &fe) {
			return nil, invalidCause(err, "%s.url: %v", param, err)
		}
		return nil, err
	}
	in.data = data
	in.mime = cmp.Or(normMIME(e.MimeType), in.mime, normMIME(ctype), normMIME(http.DetectContentType(data)))
	return in, nil
}

// readLocal reads a local file inside one of the allowed roots. The root is
// opened with os.Root, so neither ".." nor a symlink can lead outside it.
func (f *Files) readLocal(ctx context.Context, in *input, e FileEntry, p, param string, max int64) (*input, error) {
	roots := f.roots(ctx)
	if len(roots) == 0 {
		if f.Hosted {
			return nil, invalid("%s.url: local files cannot be read by this server; pass an https:// or data: URL", param)
		}
		return nil, invalid("%s.url: local files cannot be read here (%s): no folder is allowed. Start the server with --allow-dir <folder> "+
			"(or NANOGPT_MCP_ALLOW_DIRS) to allow one, or use a client that declares its roots; or pass an https:// or data: URL", param, p)
	}
	given := p
	if !filepath.IsAbs(p) {
		p = filepath.Join(roots[0], p)
	}
	p = filepath.Clean(p)
	if runtime.GOOS != "windows" && slices.ContainsFunc(neverRead, func(d string) bool { return within(p, d) }) {
		return nil, invalid("%s.url: %s is in a system folder whose files are never read", param, given)
	}
	for _, root := range roots {
		if !within(p, root) {
			continue
		}
		rel, _ := filepath.Rel(root, p)
		shown := shownPaths{file: p, root: root}
		if f.Hosted { // the path as given, and no folder of the server's
			shown = shownPaths{file: given, root: "(the server's)"}
		}
		data, err := readInRoot(root, rel, shown, max)
		if err != nil {
			return nil, invalidCause(err, "%s.url: %v", param, err)
		}
		in.data = data
		in.mime = cmp.Or(guessMIME(e, filepath.Ext(p)), normMIME(http.DetectContentType(data)))
		if in.name == "" {
			in.name = filepath.Base(p)
		}
		return in, nil
	}
	if f.Hosted {
		return nil, invalid("%s.url: %s is outside the folders this server may read", param, given)
	}
	return nil, invalid("%s.url: %s is outside the allowed folders (%s)", param, p, strings.Join(roots, ", "))
}

// humanBytes renders a size like 3 MB or 512 KB (binary units).
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", (n+512)>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// sizeError is a file over the size limit of where it is going.
type sizeError struct{ msg string }

func (e *sizeError) Error() string { return e.msg }

func tooLarge(format string, a ...any) error { return &sizeError{msg: fmt.Sprintf(format, a...)} }
