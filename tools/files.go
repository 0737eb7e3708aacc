package tools

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
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
	// Roots are the absolute folders whose files may be read. Empty: no local
	// files (the hosted default). A relative path is taken from Roots[0].
	Roots []string
	// Fetch downloads https URLs when the server itself needs the bytes.
	Fetch *Fetcher
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
		in.mime = firstNonEmpty(normMIME(e.MimeType), mt, guessMIME(e, ""), normMIME(http.DetectContentType(data)))
		if in.name == "" {
			in.name = "attachment"
		}
		return in, nil
	case strings.HasPrefix(lower, "file:"): // file:///a/b, also file:/a/b
		p, err := fileURLPath(raw)
		if err != nil {
			return nil, invalidCause(err, "%s.url: %v", param, err)
		}
		return f.readLocal(in, e, p, param, max)
	}
	if m := schemeRE.FindStringSubmatch(raw); m != nil {
		return nil, invalid("%s.url: the %q scheme is not supported (allowed: https://, data:, a local path or file://)", param, strings.ToLower(m[1]))
	}
	return f.readLocal(in, e, raw, param, max)
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
	in.mime = firstNonEmpty(normMIME(e.MimeType), mt, guessMIME(e, ""), normMIME(http.DetectContentType(data)))
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
	in.mime = firstNonEmpty(normMIME(e.MimeType), in.mime, normMIME(ctype), normMIME(http.DetectContentType(data)))
	return in, nil
}

// readLocal reads a local file inside one of the allowed roots. The root is
// opened with os.Root, so neither ".." nor a symlink can lead outside it.
func (f *Files) readLocal(in *input, e FileEntry, p, param string, max int64) (*input, error) {
	if len(f.Roots) == 0 {
		return nil, invalid("%s.url: local files cannot be read by this server (it is hosted, or no folder is allowed); pass an https:// or data: URL", param)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(f.Roots[0], p)
	}
	p = filepath.Clean(p)
	for _, root := range f.Roots {
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		data, err := readInRoot(root, rel, max)
		if err != nil {
			return nil, invalidCause(err, "%s.url: %v", param, err)
		}
		in.data = data
		in.mime = firstNonEmpty(guessMIME(e, filepath.Ext(p)), normMIME(http.DetectContentType(data)))
		if in.name == "" {
			in.name = filepath.Base(p)
		}
		return in, nil
	}
	return nil, invalid("%s.url: %s is outside the allowed folders (%s)", param, p, strings.Join(f.Roots, ", "))
}

func readInRoot(root, rel string, max int64) ([]byte, error) {
	name := filepath.Join(root, rel)
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("the allowed folder %s cannot be opened: %w", root, err)
	}
	defer r.Close()
	// Stat before opening, so a FIFO or device is refused instead of blocking Open.
	st, err := r.Stat(rel)
	if err != nil && escapes(err) {
		// os.Root refuses every absolute symlink, even one that points back
		// inside the root. Resolve it; the open below still goes through r,
		// so nothing outside the root can be reached whatever happens meanwhile.
		if inner, ok := symlinkInside(root, rel); ok {
			rel = inner
			st, err = r.Stat(rel)
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%s does not exist", name)
		case escapes(err):
			return nil, fmt.Errorf("%s leads outside the allowed folder %s (through .. or a symlink)", name, root)
		}
		return nil, fmt.Errorf("%s cannot be read: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	if st.Size() > max {
		return nil, tooLarge("%s is %s; at most %s allowed here", name, humanBytes(st.Size()), humanBytes(max))
	}
	file, err := r.Open(rel)
	if err != nil {
		if escapes(err) {
			return nil, fmt.Errorf("%s leads outside the allowed folder %s (through .. or a symlink)", name, root)
		}
		return nil, fmt.Errorf("%s cannot be read: %w", name, err)
	}
	defer file.Close()
	if st, err = file.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	data, err := readAllSized(io.LimitReader(file, max+1), min(st.Size(), max)+1)
	if err != nil {
		return nil, fmt.Errorf("%s cannot be read: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, tooLarge("%s is larger than %s", name, humanBytes(max))
	}
	return data, nil
}

// readAllSized is io.ReadAll with a first buffer of size bytes: a file read
// whole is then allocated once, not grown by doubling (which would leave up
// to as much again behind as garbage).
func readAllSized(r io.Reader, size int64) ([]byte, error) {
	data := make([]byte, 0, max(size, 512))
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)] // it grew since it was measured
		}
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return data, err
		}
	}
}

// escapes reports os.Root's refusal of a path leading outside the root. The
// path itself is left out of the match, so a file named "escapes" is no trigger.
func escapes(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return strings.Contains(err.Error(), "escapes")
}

// symlinkInside resolves root/rel through its symlinks and, when the result is
// still inside root, returns it relative to root.
func symlinkInside(root, rel string) (string, bool) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", false
	}
	target, err := filepath.EvalSymlinks(filepath.Join(root, rel))
	if err != nil {
		return "", false
	}
	inner, err := filepath.Rel(realRoot, target)
	if err != nil || inner == ".." || strings.HasPrefix(inner, ".."+string(filepath.Separator)) || filepath.IsAbs(inner) {
		return "", false
	}
	return inner, true
}

// fileURLPath turns file:///a/b (or file:///C:/a on Windows) into a path.
func fileURLPath(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid file URL", raw)
	}
	if u.Opaque != "" {
		return "", fmt.Errorf("%q is not a valid file URL (write file:///absolute/path)", raw)
	}
	p := u.Path
	switch {
	case isDrive(u.Host): // file://C:/dir, a common slip for file:///C:/dir
		p = u.Host + p
	case u.Host != "" && !strings.EqualFold(u.Host, "localhost"):
		return "", fmt.Errorf("file URLs on other hosts (%s) are not supported", u.Host)
	case len(p) >= 3 && p[0] == '/' && isDrive(p[1:3]): // /C:/dir → C:/dir
		p = p[1:]
	}
	if p == "" {
		return "", fmt.Errorf("%q names no file", raw)
	}
	return filepath.FromSlash(p), nil
}

// isDrive reports whether s is a Windows drive such as C:.
func isDrive(s string) bool {
	return len(s) == 2 && s[1] == ':' && ('a' <= s[0]|0x20 && s[0]|0x20 <= 'z')
}

// parseDataURL decodes data:[<type>][;base64],<data>, refusing more than max bytes.
func parseDataURL(raw string, max int64) (string, []byte, error) {
	header, payload, ok := strings.Cut(raw[len("data:"):], ",")
	if !ok {
		return "", nil, errors.New("malformed data: URL (no comma)")
	}
	params := strings.Split(header, ";")
	mt := normMIME(params[0])
	b64 := false
	for _, p := range params[1:] {
		if strings.EqualFold(strings.TrimSpace(p), "base64") {
			b64 = true
		}
	}
	if b64 {
		// Refuse an oversized payload before copying or decoding it. Count
		// only the characters that carry data: line breaks are skipped, and
		// %XX (RFC 2397 allows it) stands for one character.
		n := 0
		for i := 0; i < len(payload); i++ {
			switch payload[i] {
			case '\n', '\r', ' ', '\t':
			case '%':
				n--
			default:
				n++
			}
		}
		if int64(base64.StdEncoding.DecodedLen(n)) > max+2 {
			return "", nil, tooLarge("the data is larger than %s", humanBytes(max))
		}
		if strings.Contains(payload, "%") {
			unescaped, err := url.PathUnescape(payload)
			if err != nil {
				return "", nil, errors.New("the base64 data in the data: URL is malformed")
			}
			payload = unescaped
		}
		payload = strings.Map(func(r rune) rune { // tolerate line breaks and URL-safe alphabets
			switch r {
			case '\n', '\r', ' ', '\t':
				return -1
			case '-':
				return '+'
			case '_':
				return '/'
			}
			return r
		}, payload)
		data, err := base64.StdEncoding.DecodeString(payload)
		if err != nil {
			data, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(payload, "="))
		}
		if err != nil {
			return "", nil, errors.New("the base64 data in the data: URL is malformed")
		}
		if int64(len(data)) > max {
			return "", nil, tooLarge("the data is larger than %s", humanBytes(max))
		}
		return mt, data, nil
	}
	if int64(len(payload)) > 3*max { // each byte takes at most 3 characters (%XX)
		return "", nil, tooLarge("the data is larger than %s", humanBytes(max))
	}
	text, err := url.PathUnescape(payload)
	if err != nil {
		return "", nil, errors.New("the data: URL is not properly percent-encoded")
	}
	if int64(len(text)) > max {
		return "", nil, tooLarge("the data is larger than %s", humanBytes(max))
	}
	if mt == "" {
		mt = "text/plain"
	}
	return mt, []byte(text), nil
}

// extTypes maps file extensions to MIME types, beyond what the OS may know.
var extTypes = map[string]string{
	"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
	"txt": "text/plain", "md": "text/markdown", "markdown": "text/markdown", "csv": "text/csv", "tsv": "text/tab-separated-values",
	"html": "text/html", "htm": "text/html", "css": "text/css", "xml": "application/xml", "json": "application/json",
	"jsonl": "application/x-ndjson", "yaml": "application/yaml", "yml": "application/yaml", "toml": "application/toml",
	"js": "text/javascript", "ts": "text/plain", "go": "text/plain", "py": "text/plain", "rs": "text/plain",
	"java": "text/plain", "c": "text/plain", "h": "text/plain", "cpp": "text/plain", "rb": "text/plain", "sh": "text/plain",
	"sql": "text/plain", "log": "text/plain", "ini": "text/plain", "cfg": "text/plain", "conf": "text/plain", "tex": "text/plain",
	"mp3": "audio/mpeg", "wav": "audio/wav", "m4a": "audio/mp4", "ogg": "audio/ogg", "aac": "audio/aac",
	"flac": "audio/flac", "opus": "audio/opus", "pcm": "audio/pcm", "pdf": "application/pdf",
}

// extOfMIME is the preferred extension for a MIME type.
var extOfMIME = map[string]string{
	"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif",
	"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav",
	"audio/mp4": "m4a", "audio/x-m4a": "m4a", "audio/ogg": "ogg", "audio/aac": "aac", "audio/flac": "flac",
	"audio/opus": "opus", "audio/pcm": "pcm", "audio/l16": "pcm",
}

// guessMIME finds the type from the entry's mimeType, extension, name, or ext.
func guessMIME(e FileEntry, ext string) string {
	if mt := normMIME(e.MimeType); mt != "" {
		return mt
	}
	for _, x := range []string{e.Extension, path.Ext(e.Name), ext} {
		x = strings.ToLower(strings.TrimPrefix(x, "."))
		if x == "" {
			continue
		}
		if mt, ok := extTypes[x]; ok {
			return mt
		}
		if mt := normMIME(mime.TypeByExtension("." + x)); mt != "" {
			return mt
		}
	}
	return ""
}

func normMIME(s string) string {
	mt, _, err := mime.ParseMediaType(strings.TrimSpace(s))
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) { // a bad parameter still leaves the type
		return ""
	}
	return mt
}

// isTextMIME reports whether a type is text that can be inlined into a prompt.
func isTextMIME(mt string) bool {
	if strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") {
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/yaml", "application/x-yaml", "application/toml",
		"application/javascript", "application/x-sh", "application/sql", "application/x-ndjson":
		return true
	}
	return false
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
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
