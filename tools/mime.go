package tools

import (
	"errors"
	"mime"
	"path"
	"strings"
)

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
	"mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime",
}

// extOfMIME is the preferred extension for a MIME type.
var extOfMIME = map[string]string{
	"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif",
	"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav",
	"audio/mp4": "m4a", "audio/x-m4a": "m4a", "audio/ogg": "ogg", "audio/aac": "aac", "audio/flac": "flac",
	"audio/opus": "opus", "audio/pcm": "pcm", "audio/l16": "pcm",
	"video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov",
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
