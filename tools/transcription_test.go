package tools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

const (
	transcribePath       = "/api/transcribe"
	transcribeStatusPath = "/api/transcribe/status"
)

// syncTranscript answers like Whisper: the transcription and its metadata.
func syncTranscript(w http.ResponseWriter, r *http.Request) {
	nanogpttest.JSON(w, map[string]any{"transcription": "Hello, this is a test.", "metadata": map[string]any{
		"fileName": "audio.mp3", "fileSize": 1234, "chargedDuration": 2.5, "actualDuration": 2.5,
		"language": "en", "cost": 0.0012, "currency": "USD", "model": "Whisper-Large-V3"}})
}

// upload is a parsed multipart transcription request.
type upload struct {
	fields   map[string]string
	fileName string
	fileType string
	data     []byte
}

func parseUpload(t *testing.T, h *harness) upload {
	t.Helper()
	r, ok := h.fake.Last(transcribePath)
	if !ok {
		t.Fatal("no transcription request reached NanoGPT")
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type %q, want multipart/form-data", r.Header.Get("Content-Type"))
	}
	up := upload{fields: map[string]string{}}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if p.FormName() == "audio" {
			if up.data != nil {
				t.Error("two audio parts")
			}
			up.fileName, up.fileType, up.data = p.FileName(), p.Header.Get("Content-Type"), b
			continue
		}
		up.fields[p.FormName()] = string(b)
	}
	return up
}

func TestCreateTranscriptionUpload(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+transcribePath, syncTranscript)
	if err := os.WriteFile(filepath.Join(h.root, "memo.mp3"), mp3Bytes, 0o600); err != nil {
		t.Fatal(err)
	}
	res := h.call("createTranscription", map[string]any{"model": "Whisper-Large-V3", "file": map[string]any{"url": "memo.mp3"}, "language": "en"}, nil)
	mustOK(t, res)
	up := parseUpload(t, h)
	if up.fileName != "memo.mp3" || up.fileType != "audio/mpeg" || !bytes.Equal(up.data, mp3Bytes) {
		t.Errorf("audio part %q %q %d bytes", up.fileName, up.fileType, len(up.data))
	}
	if len(up.fields) != 2 || up.fields["model"] != "Whisper-Large-V3" || up.fields["language"] != "en" {
		t.Errorf("fields %v", up.fields)
	}
	if len(res.Content) != 2 || mcp.GetTextFromContent(res.Content[0]) != "Hello, this is a test." {
		t.Fatalf("content %+v: the transcript must come first", res.Content)
	}
	if got, want := mcp.GetTextFromContent(res.Content[1]), "Transcribed memo.mp3 with Whisper-Large-V3: 22 characters of text, above; 2.5 min of audio; language en; cost USD 0.0012."; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	out := structured[tools.CreateTranscriptionOutput](t, res)
	if out.Text != "Hello, this is a test." || out.Language != "en" || out.Duration != 2.5 || out.Model != "Whisper-Large-V3" ||
		out.Cost == nil || *out.Cost != 0.0012 || out.Currency != "USD" || out.Words != nil || out.RunID != "" {
		t.Errorf("structured %+v", out)
	}

	// Without a language none is sent.
	mustOK(t, h.call("createTranscription", map[string]any{"model": "Wizper", "file": map[string]any{"url": filepath.Join(h.root, "memo.mp3")}}, nil))
	if up := parseUpload(t, h); len(up.fields) != 1 || up.fields["model"] != "Wizper" {
		t.Errorf("fields %v", up.fields)
	}
}

func TestCreateTranscriptionDataURL(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+transcribePath, syncTranscript)
	cases := []struct {
		file        map[string]any
		name, ctype string
		data        []byte
	}{
		{map[string]any{"url": "data:audio/wav;base64," + b64(wavBytes)}, "attachment.wav", "audio/wav", wavBytes},
		{map[string]any{"url": "data:application/octet-stream;base64," + b64(mp3Bytes), "name": "call.mp3"}, "call.mp3", "audio/mpeg", mp3Bytes},
		{map[string]any{"url": "data:audio/ogg;base64," + b64(rawAudio)}, "attachment.ogg", "audio/ogg", rawAudio},
	}
	for _, c := range cases {
		mustOK(t, h.call("createTranscription", map[string]any{"model": "m", "file": c.file}, nil))
		up := parseUpload(t, h)
		if up.fileName != c.name || up.fileType != c.ctype || !bytes.Equal(up.data, c.data) {
			t.Errorf("%.40v: audio part %q %q %d bytes", c.file["url"], up.fileName, up.fileType, len(up.data))
		}
	}
}

// An https URL is handed to NanoGPT as JSON {audioUrl, model, language}: nothing is uploaded.
func TestCreateTranscriptionURL(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+transcribePath, syncTranscript)
	u := "https://example.com/podcasts/ep1.mp3?token=x"
	res := h.call("createTranscription", map[string]any{"model": "Whisper-Large-V3", "file": map[string]any{"url": u}, "language": "de"}, nil)
	mustOK(t, res)
	r, _ := h.fake.Last(transcribePath)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON", ct)
	}
	body := r.JSON()
	if body["audioUrl"] != u || body["model"] != "Whisper-Large-V3" || body["language"] != "de" || len(body) != 3 {
		t.Errorf("body %v", body)
	}
	if !strings.Contains(text(res), "Transcribed ep1.mp3 with Whisper-Large-V3") {
		t.Errorf("text %q", text(res))
	}
}

func TestCreateTranscriptionPollsJob(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"runId":"abc123def456","status":"pending","model":"Elevenlabs-STT","cost":0.075,"paymentSource":"USD"}`)
	})
	words := `[{"text":"Hello","start":0.5,"end":0.9,"type":"word","speaker_id":"speaker_0"}]`
	diar := `{"segments":[{"speaker":"Speaker 1","text":"Hello everyone","start":0.5,"end":1.5}]}`
	var polls atomic.Int32
	h.fake.Handle("POST "+transcribeStatusPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if polls.Add(1) < 3 {
			fmt.Fprint(w, `{"status":"processing"}`)
			return
		}
		fmt.Fprintf(w, `{"status":"completed","transcription":"Hello everyone","metadata":{"actualDuration":0.03,"language":"en"},"words":%s,"diarization":%s}`, words, diar)
	})
	res := h.call("createTranscription", map[string]any{"model": "Elevenlabs-STT", "file": map[string]any{"url": "data:audio/mpeg;base64," + b64(mp3Bytes)}, "language": "en"},
		&mcp.Meta{ProgressToken: 7})
	mustOK(t, res)
	if n := countRequests(h, http.MethodPost, transcribePath); n != 1 {
		t.Errorf("the upload was made %d times", n)
	}
	if polls.Load() != 3 {
		t.Errorf("%d status polls, want 3", polls.Load())
	}
	st, _ := h.fake.Last(transcribeStatusPath)
	sb := st.JSON()
	if sb["runId"] != "abc123def456" || sb["isApiRequest"] != true || sb["cost"] != 0.075 || sb["paymentSource"] != "USD" {
		t.Errorf("status body %v", sb)
	}
	out := structured[tools.CreateTranscriptionOutput](t, res)
	if out.Text != "Hello everyone" || out.RunID != "abc123def456" || out.Cost == nil || *out.Cost != 0.075 || out.Language != "en" {
		t.Errorf("structured %+v", out)
	}
	if !jsonEqual(out.Words, words) || !jsonEqual(out.Diarization, diar) {
		t.Errorf("words %s diarization %s", out.Words, out.Diarization)
	}
	if mcp.GetTextFromContent(res.Content[0]) != "Hello everyone" {
		t.Errorf("content %+v", res.Content)
	}
	waitProgress(t, h, "transcription job processing")
}

func jsonEqual(got json.RawMessage, want string) bool {
	var a, b any
	return json.Unmarshal(got, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && fmt.Sprint(a) == fmt.Sprint(b)
}

func TestCreateTranscriptionJobFails(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"runId":"run-f","status":"pending","cost":0.03,"paymentSource":"USD"}`)
	})
	h.fake.Handle("POST "+transcribeStatusPath, func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.JSON(w, map[string]any{"status": "failed", "error": "audio could not be decoded"})
	})
	res := h.call("createTranscription", map[string]any{"model": "Elevenlabs-STT", "file": map[string]any{"url": "https://example.com/a.mp3"}}, nil)
	mustFail(t, res, tools.CodeJobFailed, "run-f", "audio could not be decoded")
	if n := countRequests(h, http.MethodPost, transcribePath); n != 1 {
		t.Errorf("the job was submitted %d times", n)
	}
}

// Uploads over NanoGPT's 3 MB limit are refused before any request, pointing to
// an https URL; so are files that are not audio.
func TestCreateTranscriptionRefusals(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+transcribePath, syncTranscript)
	big := make([]byte, 3<<20+1)
	copy(big, mp3Bytes)
	if err := os.WriteFile(filepath.Join(h.root, "long.mp3"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.root, "notes.txt"), []byte("just text"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		url  string
		want []string
	}{
		{"long.mp3", []string{"file.url", "at most 3 MB", "https:// URL"}},
		{"notes.txt", []string{"file", "notes.txt", "does not transcribe", "MP3, WAV"}},
		{"data:image/png;base64," + b64(pngBytes), []string{"file", "image/png", "does not transcribe"}},
		{"http://example.com/a.mp3", []string{"file.url", `"http" scheme`}},
		{"../outside.mp3", []string{"file.url", "outside the allowed folders"}},
	}
	for _, c := range cases {
		res := h.call("createTranscription", map[string]any{"model": "m", "file": map[string]any{"url": c.url}}, nil)
		mustFail(t, res, tools.CodeInvalidArgument, c.want...)
	}
	mustFail(t, h.call("createTranscription", map[string]any{"model": "m", "file": map[string]any{"url": "https://example.com/a.mp3"}, "language": "english"}, nil),
		tools.CodeInvalidArgument, "language")
	// A 4 MB argument goes straight to the tool's handler: through the MCP
	// client it costs seconds of JSON under the race detector.
	res := h.callHandler("createTranscription", map[string]any{"model": "m", "file": map[string]any{"url": "data:audio/mpeg;base64," + b64(big)}})
	mustFail(t, res, tools.CodeInvalidArgument, "file.url", "larger than 3 MB", "https:// URL")
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests reached NanoGPT for refused input", n)
	}
}

// callHandler runs a tool's registered handler directly, skipping the client
// and the JSON-RPC encoding (for very large arguments).
func (h *harness) callHandler(name string, args map[string]any) *mcp.CallToolResult {
	h.t.Helper()
	st := h.server.GetTool(name)
	if st == nil {
		h.t.Fatalf("no tool %s", name)
	}
	var req mcp.CallToolRequest
	req.Params.Name, req.Params.Arguments = name, args
	res, err := st.Handler(context.Background(), req)
	if err != nil {
		h.t.Fatalf("%s: %v (tool failures must be isError results)", name, err)
	}
	return res
}
