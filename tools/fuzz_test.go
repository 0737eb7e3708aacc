package tools

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/schemas"
)

// fuzzValidator parses a tool's committed input schema.
func fuzzValidator(f *testing.F, tool string) *schemas.Schema {
	f.Helper()
	raw, err := schemas.Committed(tool, "in")
	if err != nil {
		f.Fatal(err)
	}
	v, err := schemas.Parse(raw)
	if err != nil {
		f.Fatal(err)
	}
	return v
}

// fuzzDecode decodes args for one tool as the handler does and checks the
// outcome: a value or a bounded invalid_argument failure, never both or neither.
func fuzzDecode[In any](t *testing.T, v *schemas.Schema, req mcp.CallToolRequest, inputLen int) *In {
	in, f := decodeArgs[In](v, req)
	switch {
	case f == nil && in == nil, f != nil && in != nil:
		t.Fatalf("decodeArgs returned %v and %v", in, f)
	case f != nil && f.Code != CodeInvalidArgument:
		t.Fatalf("decode failure with code %q: %s", f.Code, f.Message)
	case f != nil && len(f.Message) > 64<<10+inputLen:
		t.Fatalf("failure message of %d bytes for %d bytes of input", len(f.Message), inputLen)
	}
	return in
}

// FuzzDecodeArgs feeds arbitrary JSON as the arguments of every tool, through
// the same path as a tools/call (mcp-go's decoding, then schema validation and
// decoding into the input struct, then ask's own rules and attachment loading).
func FuzzDecodeArgs(f *testing.F) {
	ask := fuzzValidator(f, "ask")
	image := fuzzValidator(f, "createImage")
	speech := fuzzValidator(f, "createSpeech")
	stt := fuzzValidator(f, "createTranscription")
	models := fuzzValidator(f, "listModels")
	balance := fuzzValidator(f, "checkBalance")
	root := f.TempDir()
	files := &Files{Roots: []string{root}}
	for _, seed := range []string{
		`{"model":"m","userPrompt":"hi"}`,
		`{"model":"m","userPrompt":"hi","attachments":[{"url":"data:text/plain,hello"},{"url":"data:image/png;base64,iVBORw0KGgo="}]}`,
		`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u","attachments":[{"url":"notes.txt"}]}]}`,
		`{"model":"m","userPrompt":"x","response":{"responseFormat":"JSON","responseSchema":"{\"title\":\"A b\"}"}}`,
		`{"model":"m","userPrompt":"x","seed":9007199254740993,"logitBias":{"1":101}}`,
		`{"model":"m","imageMessages":[{"content":"cat","weight":-1}],"n":2,"inputImage":{"url":"data:,x"}}`,
		`{"model":"m","input":"say","speed":0.5,"output":"inline"}`,
		`{"model":"m","file":{"url":"file:///etc/passwd"},"language":"en"}`,
		`{"kind":"text","search":"gpt"}`,
		`null`, `[]`, `"str"`, `{"model":1}`, `{"model":"m","userPrompt":"x","temperature":1e309}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var params mcp.CallToolParams
		if json.Unmarshal([]byte(`{"name":"t","arguments":`+string(data)+`}`), &params) != nil {
			return // not a tools/call mcp-go would hand over
		}
		req := mcp.CallToolRequest{Params: params}
		if in := fuzzDecode[AskInput](t, ask, req, len(data)); in != nil {
			if _, err := buildChatRequest(context.Background(), files, in); err != nil {
				if f := classify(err); f.Code != CodeInvalidArgument {
					t.Fatalf("ask input refused with %q: %v", f.Code, err)
				}
			}
		}
		fuzzDecode[CreateImageInput](t, image, req, len(data))
		fuzzDecode[CreateSpeechInput](t, speech, req, len(data))
		fuzzDecode[CreateTranscriptionInput](t, stt, req, len(data))
		fuzzDecode[ListModelsInput](t, models, req, len(data))
		fuzzDecode[CheckBalanceInput](t, balance, req, len(data))
	})
}

// FuzzFilesOpen resolves arbitrary FILE_ENTRY objects against an allowed
// folder: no panic, never more than the size cap, and every refusal is an
// invalid_argument failure.
func FuzzFilesOpen(f *testing.F) {
	root := f.TempDir()
	files := &Files{Roots: []string{root}}
	const max = 1 << 10
	for _, seed := range []struct{ url, name, mime string }{
		{"https://example.com/a/b.png?x=1", "", ""},
		{"data:image/png;base64,iVBORw0KGgo=", "a.png", "image/png"},
		{"data:text/plain;charset=utf-8,hello%20world", "", ""},
		{"data:;base64,%41%41%3D%3D", "", ""},
		{"data:,", "", ""},
		{"data:text/plain;base64," + strings.Repeat("QUFB", 400), "", ""},
		{"file:///etc/passwd", "", ""},
		{"file://C:/x/y.txt", "", ""},
		{"file://host/share/x", "", ""},
		{"../../../etc/passwd", "", ""},
		{"C:\\Windows\\win.ini", "", ""},
		{"javascript:alert(1)", "", ""},
		{"HTTPS://EXAMPLE.COM", "", ""},
		{"  ", "", ""},
	} {
		f.Add(seed.url, seed.name, seed.mime)
	}
	f.Fuzz(func(t *testing.T, url, name, mime string) {
		in, err := files.open(context.Background(), FileEntry{URL: url, Name: name, MimeType: mime}, "file", max)
		if err != nil {
			if f := classify(err); f.Code != CodeInvalidArgument {
				t.Fatalf("open(%q) failed with %q: %v", url, f.Code, err)
			}
			return
		}
		if in == nil {
			t.Fatal("no input and no error")
		}
		if len(in.data) > max {
			t.Fatalf("open(%q) returned %d bytes, over the %d-byte cap", url, len(in.data), max)
		}
		if in.remote() && !strings.HasPrefix(strings.ToLower(strings.TrimSpace(url)), "https://") {
			t.Fatalf("open(%q) left a non-https URL remote", url)
		}
	})
}

// FuzzParseDataURL decodes arbitrary data: URLs: the result never exceeds the
// cap, and a payload that declares more than the cap is refused without being
// decoded.
func FuzzParseDataURL(f *testing.F) {
	for _, seed := range []string{
		"image/png;base64,iVBORw0KGgo=", "text/plain,hello%20world", ";base64,QUJD%0A%0D", ",", "base64,====",
		"text/plain;base64,-_-_", ";;;base64;base64,QQ", "a/b;charset=x,%ZZ", "text/plain;base64," + strings.Repeat("A", 200),
	} {
		f.Add(seed, int64(16))
	}
	f.Fuzz(func(t *testing.T, rest string, max int64) {
		if max < 0 || max > 1<<20 {
			return
		}
		mt, data, err := parseDataURL("data:"+rest, max)
		if err != nil {
			return
		}
		if int64(len(data)) > max {
			t.Fatalf("decoded %d bytes with a cap of %d", len(data), max)
		}
		if len(data) > len(rest) {
			t.Fatalf("decoded %d bytes from %d characters", len(data), len(rest))
		}
		if len(mt) > len(rest)+len("text/plain") {
			t.Fatalf("MIME type %q longer than the input", mt)
		}
	})
}

// FuzzFileURLPath parses arbitrary file: URLs.
func FuzzFileURLPath(f *testing.F) {
	for _, seed := range []string{"file:///a/b", "file://localhost/a", "file://C:/x", "file:///C:/x", "file:relative", "file://evil/x", "file:", "file:///%00", "file://[::1]/x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := fileURLPath(raw)
		if err == nil && p == "" {
			t.Fatalf("fileURLPath(%q) gave an empty path", raw)
		}
		if len(p) > len(raw) {
			t.Fatalf("fileURLPath(%q) = %q, longer than its input", raw, p)
		}
	})
}
