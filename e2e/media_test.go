package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

var (
	e2ePNG  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 64)...)
	e2eJPEG = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), bytes.Repeat([]byte{9}, 64)...)
	e2eWAV  = append([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"), bytes.Repeat([]byte{2}, 200)...)
	e2eMP3  = append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{1}, 200)...)
)

// mediaE2EFake is a fake NanoGPT serving the image, speech and transcription
// endpoints, and a storage server for the image URLs it hands out.
func mediaE2EFake(t *testing.T) *nanogpttest.Server {
	t.Helper()
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.Header.Get("x-api-key") != "" {
			http.Error(w, "the API key must not reach storage", http.StatusBadRequest)
			return
		}
		if r.URL.Path != "/files/1.jpg" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(e2eJPEG)
	}))
	t.Cleanup(storage.Close)
	fake := nanogpttest.New(e2eKey)
	t.Cleanup(fake.Close)
	fake.Handle("POST /api/v1/images/generations", func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.JSON(w, map[string]any{"created": 1, "cost": 0.02, "paymentSource": "USD", "data": []any{
			map[string]any{"url": storage.URL + "/files/1.jpg?sig=x"},
			map[string]any{"b64_json": base64.StdEncoding.EncodeToString(e2ePNG)},
		}})
	})
	fake.Handle("POST /api/v1/audio/speech", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(e2eWAV)
	})
	fake.Handle("POST /api/transcribe", func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.JSON(w, map[string]any{"transcription": "hello from the binary",
			"metadata": map[string]any{"actualDuration": 0.1, "language": "en", "cost": 0.0001, "currency": "USD"}})
	})
	return fake
}

// TestStdioMediaEndToEnd drives createImage, createSpeech and
// createTranscription through the built binary over stdio, with every
// parameter, file output into a temporary folder, and a fake NanoGPT.
func TestStdioMediaEndToEnd(t *testing.T) {
	fake := mediaE2EFake(t)
	work := t.TempDir() // the working directory: allowed for local input files
	outDir := filepath.Join(t.TempDir(), "generated")
	for name, data := range map[string][]byte{"input.png": e2ePNG, "memo.mp3": e2eMP3} {
		if err := os.WriteFile(filepath.Join(work, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, _, stderr := startStdio(t, work, "NANOGPT_BASE_URL="+fake.URL, "NANOGPT_API_KEY="+e2eKey,
		"NANOGPT_MCP_OUTPUT_DIR="+outDir, "NANOGPT_MCP_MEDIA_OUTPUT=file", "NANOGPT_MCP_ALLOW_DIRS="+work)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	list, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tool := range list.Tools {
		names[tool.Name] = true
		if strings.HasPrefix(tool.Name, "create") && tool.OutputSchema.Type != "object" && tool.RawOutputSchema == nil {
			t.Errorf("%s advertises no output schema", tool.Name)
		}
	}
	for _, want := range []string{"ask", "createImage", "createSpeech", "createTranscription"} {
		if !names[want] {
			t.Errorf("tools/list lacks %s: %v", want, names)
		}
	}

	call := func(name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
		t.Helper()
		var req mcp.CallToolRequest
		req.Params.Name, req.Params.Arguments = name, args
		res, err := c.CallTool(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var texts []string
		for _, ct := range res.Content {
			if tc, ok := ct.(mcp.TextContent); ok {
				texts = append(texts, tc.Text)
			}
		}
		if res.IsError {
			t.Fatalf("%s: %s", name, strings.Join(texts, "\n"))
		}
		var sc map[string]any
		b, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(b, &sc)
		sc["_text"] = strings.Join(texts, "\n")
		return res, sc
	}
	checkSaved := func(p any, want []byte, ext string) {
		t.Helper()
		path, _ := p.(string)
		if filepath.Dir(path) != outDir || filepath.Ext(path) != ext {
			t.Errorf("saved as %q, want a %s file in %s", path, ext, outDir)
			return
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, %d bytes", path, err, len(got))
		}
	}

	// createImage: every parameter; the operator's default output (file).
	_, img := call("createImage", map[string]any{
		"model": "flux-dev", "imageMessages": []any{map[string]any{"content": "a harbour", "weight": 2}, map[string]any{"content": "people", "weight": 0}},
		"size": "1024x1024", "n": 2, "seed": 7, "guidanceScale": 6.5, "strength": 0.4, "numInferenceSteps": 25, "user": "u-1",
		"inputImage": map[string]any{"url": "input.png", "name": "input.png", "mimeType": "image/png", "extension": "png"},
	})
	r, _ := fake.Last("/api/v1/images/generations")
	body := r.JSON()
	wantBody := map[string]any{"model": "flux-dev", "prompt": "a harbour\nAvoid: people", "size": "1024x1024", "n": 2.0, "seed": 7.0,
		"guidance_scale": 6.5, "strength": 0.4, "num_inference_steps": 25.0, "user": "u-1", "response_format": "b64_json",
		"imageDataUrl": "data:image/png;base64," + base64.StdEncoding.EncodeToString(e2ePNG)}
	for k, v := range wantBody {
		if body[k] != v {
			t.Errorf("image request %s = %#v, want %#v", k, body[k], v)
		}
	}
	images, _ := img["images"].([]any)
	if len(images) != 2 {
		t.Fatalf("images = %v", img)
	}
	checkSaved(images[0].(map[string]any)["path"], e2eJPEG, ".jpg")
	checkSaved(images[1].(map[string]any)["path"], e2ePNG, ".png")
	if txt := img["_text"].(string); !strings.Contains(txt, "Created 2 image(s) with flux-dev; cost USD 0.02.") ||
		!strings.Contains(txt, "image 1: image/jpeg") || !strings.Contains(txt, "image 2: image/png") || !strings.Contains(txt, "saved to "+outDir) {
		t.Errorf("image text %q", txt)
	}
	// The other output modes and the caller's response format.
	res, img := call("createImage", map[string]any{"model": "hidream", "imageMessages": []any{map[string]any{"content": "x"}}, "responseFormat": "url", "output": "url"})
	if r, _ := fake.Last("/api/v1/images/generations"); r.JSON()["response_format"] != "url" {
		t.Errorf("response_format %v", r.JSON()["response_format"])
	}
	if u, _ := img["images"].([]any)[0].(map[string]any)["url"].(string); !strings.HasSuffix(u, "/files/1.jpg?sig=x") || !strings.Contains(img["_text"].(string), "expire") {
		t.Errorf("url output: %v", img)
	}
	res, _ = call("createImage", map[string]any{"model": "hidream", "imageMessages": []any{map[string]any{"content": "x"}}, "output": "inline"})
	var blocks int
	for _, ct := range res.Content {
		if ic, ok := ct.(mcp.ImageContent); ok && (ic.MIMEType == "image/jpeg" || ic.MIMEType == "image/png") {
			blocks++
		}
	}
	if blocks != 2 {
		t.Errorf("inline output: %d image blocks, want 2", blocks)
	}

	// createSpeech: every parameter.
	_, sp := call("createSpeech", map[string]any{"model": "tts-1", "input": "Hello there", "voice": "nova", "responseFormat": "wav", "speed": 1.5, "output": "file"})
	r, _ = fake.Last("/api/v1/audio/speech")
	if b := r.JSON(); b["model"] != "tts-1" || b["input"] != "Hello there" || b["voice"] != "nova" || b["response_format"] != "wav" || b["speed"] != 1.5 {
		t.Errorf("speech request %s", r.Body)
	}
	audio, _ := sp["audio"].(map[string]any)
	checkSaved(audio["path"], e2eWAV, ".wav")
	file, _ := sp["file"].(map[string]any)
	if file["url"] != "file://"+filepath.ToSlash(fmt.Sprint(audio["path"])) || file["mimeType"] != "audio/wav" || file["extension"] != "wav" ||
		file["name"] != filepath.Base(fmt.Sprint(audio["path"])) {
		t.Errorf("speech file %v", file)
	}
	if txt := sp["_text"].(string); !strings.Contains(txt, "audio: audio/wav") || !strings.Contains(txt, "saved to "+outDir) {
		t.Errorf("speech text %q", txt)
	}

	// createTranscription: a local file (uploaded) and an https URL (passed on).
	_, tr := call("createTranscription", map[string]any{"model": "Whisper-Large-V3", "file": map[string]any{"url": "memo.mp3", "name": "memo.mp3", "mimeType": "audio/mpeg", "extension": "mp3"}, "language": "en"})
	r, _ = fake.Last("/api/transcribe")
	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	form, err := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"]).ReadForm(1 << 20)
	if err != nil {
		t.Fatalf("transcription upload is not multipart: %v", err)
	}
	if len(form.File["audio"]) != 1 || form.File["audio"][0].Filename != "memo.mp3" || form.Value["model"][0] != "Whisper-Large-V3" || form.Value["language"][0] != "en" {
		t.Errorf("upload form %v %v", form.Value, form.File)
	}
	_ = form.RemoveAll()
	if tr["text"] != "hello from the binary" || tr["language"] != "en" || !strings.HasPrefix(tr["_text"].(string), "hello from the binary\nTranscribed memo.mp3") {
		t.Errorf("transcription %v", tr)
	}
	call("createTranscription", map[string]any{"model": "Whisper-Large-V3", "file": map[string]any{"url": "https://example.com/talk.mp3"}})
	if r, _ := fake.Last("/api/transcribe"); !strings.Contains(string(r.Body), `"audioUrl":"https://example.com/talk.mp3"`) {
		t.Errorf("URL transcription body %s", r.Body)
	}

	if got := len(fake.Requests()); got != 6 {
		t.Errorf("%d requests reached NanoGPT, want 6", got)
	}
	if strings.Contains(stderr.String(), e2eKey) {
		t.Error("stderr shows the API key")
	}
}
