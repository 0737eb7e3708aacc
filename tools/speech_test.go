package tools_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

const ttsStatusPath = "/api/tts/status"

// rawAudio sniffs as nothing in particular: its type must come from NanoGPT.
var rawAudio = []byte("\x00\x01\x02\x03 raw audio samples \x00\x01\x02\x03")

func countRequests(h *harness, method, path string) int {
	n := 0
	for _, r := range h.fake.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

func TestCreateSpeechWireFormat(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+speechPath, audioAnswer("audio/mpeg", mp3Bytes))
	mustOK(t, h.call("createSpeech", map[string]any{"model": "tts-1", "input": "Hello world", "voice": "nova", "responseFormat": "mp3", "speed": 1.25}, nil))
	r, ok := h.fake.Last(speechPath)
	if !ok || r.Method != http.MethodPost {
		t.Fatalf("no POST %s", speechPath)
	}
	body := r.JSON()
	want := map[string]any{"model": "tts-1", "input": "Hello world", "voice": "nova", "response_format": "mp3", "speed": 1.25}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %#v, want %#v", k, body[k], v)
		}
	}
	if keys(body) != keys(want) {
		t.Errorf("body keys %s, want %s", keys(body), keys(want))
	}
	mustOK(t, h.call("createSpeech", map[string]any{"model": "Kokoro-82m", "input": "x"}, nil))
	if r, _ := h.fake.Last(speechPath); keys(r.JSON()) != "input,model" {
		t.Errorf("minimal body %s", r.Body)
	}

	before := len(h.fake.Requests())
	mustFail(t, h.call("createSpeech", map[string]any{"model": "m", "input": "x", "speed": 9}, nil), tools.CodeInvalidArgument, "speed", "0.1 to 5")
	mustFail(t, h.call("createSpeech", map[string]any{"model": "m", "input": "x", "responseFormat": "ogg"}, nil), tools.CodeInvalidArgument, "responseFormat", `"mp3"`)
	mustFail(t, h.call("createSpeech", map[string]any{"model": "m", "input": ""}, nil), tools.CodeInvalidArgument, "input")
	if n := len(h.fake.Requests()) - before; n != 0 {
		t.Errorf("%d requests reached NanoGPT for invalid input", n)
	}
}

// Audio bytes: the type comes from the bytes, else the answer's audio type,
// else the requested format (a generic application/octet-stream says nothing).
func TestCreateSpeechAudioBytes(t *testing.T) {
	cases := []struct {
		ctype, format string
		data          []byte
		mime, ext     string
	}{
		{"audio/mpeg", "", mp3Bytes, "audio/mpeg", "mp3"},
		{"application/octet-stream", "wav", wavBytes, "audio/wav", "wav"},
		{"audio/flac", "", rawAudio, "audio/flac", "flac"},
		{"application/octet-stream", "aac", rawAudio, "audio/aac", "aac"},
		{"application/octet-stream", "", rawAudio, "audio/mpeg", "mp3"}, // NanoGPT's default format
	}
	for _, c := range cases {
		dir := t.TempDir()
		h := newHarnessWith(t, testKey, tools.Media{Dir: dir, InlineMax: 1 << 20})
		h.fake.Handle("POST "+speechPath, audioAnswer(c.ctype, c.data))
		args := map[string]any{"model": "tts-1", "input": "x"}
		if c.format != "" {
			args["responseFormat"] = c.format
		}
		res := h.call("createSpeech", args, nil)
		mustOK(t, res)
		if ab := audioBlocks(res); len(ab) != 1 || ab[0].MIMEType != c.mime || ab[0].Data != b64(c.data) {
			t.Errorf("%s/%s: audio blocks %+v", c.ctype, c.format, ab)
		}
		out := structured[tools.CreateSpeechOutput](t, res)
		if out.File != (tools.FileEntry{Name: "speech." + c.ext, MimeType: c.mime, Extension: c.ext}) || out.AudioURL != "" || !out.Audio.Inline {
			t.Errorf("%s/%s: structured %+v", c.ctype, c.format, out)
		}
		args["output"] = "file"
		res = h.call("createSpeech", args, nil)
		mustOK(t, res)
		if p := structured[tools.CreateSpeechOutput](t, res).Audio.Path; !strings.HasSuffix(p, "."+c.ext) {
			t.Errorf("%s/%s: saved as %s", c.ctype, c.format, p)
		}
	}
}

// A JSON answer names NanoGPT's audioUrl: downloaded for inline and file
// output (without the key), returned as is for url output.
func TestCreateSpeechAudioURL(t *testing.T) {
	st := newStorage(t)
	u := st.put("/tts/out.flac", "application/octet-stream", rawAudio)
	h := newHarnessWith(t, testKey, tools.Media{InlineMax: 1 << 20})
	h.fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.JSON(w, map[string]any{"audioUrl": u, "contentType": "audio/flac", "model": "Kokoro-82m", "duration": 2.3, "cost": 0.001, "currency": "USD"})
	})
	res := h.call("createSpeech", map[string]any{"model": "Kokoro-82m", "input": "Hello world", "voice": "af_bella"}, nil)
	mustOK(t, res)
	if ab := audioBlocks(res); len(ab) != 1 || ab[0].MIMEType != "audio/flac" || ab[0].Data != b64(rawAudio) {
		t.Errorf("audio blocks %+v", ab)
	}
	out := structured[tools.CreateSpeechOutput](t, res)
	// The reference component's output: {file: {url, name, mimeType, extension}, audioUrl}.
	if out.File != (tools.FileEntry{URL: u, Name: "speech.flac", MimeType: "audio/flac", Extension: "flac"}) || out.AudioURL != u {
		t.Errorf("file %+v audioUrl %q", out.File, out.AudioURL)
	}
	if out.Model != "Kokoro-82m" || out.Cost == nil || *out.Cost != 0.001 || out.Currency != "USD" || out.RunID != "" {
		t.Errorf("structured %+v", out)
	}
	if want := fmt.Sprintf("Created speech with Kokoro-82m; cost USD 0.001.\naudio: audio/flac, %d bytes, shown inline", len(rawAudio)); text(res) != want {
		t.Errorf("text %q, want %q", text(res), want)
	}
	if n := len(st.requests(t)); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
	raw := structured[map[string]any](t, res)
	if f, ok := raw["file"].(map[string]any); !ok || keys(f) != "extension,mimeType,name,url" || raw["audioUrl"] != u {
		t.Errorf("structured JSON %v", raw)
	}
}

func TestCreateSpeechPollsTicket(t *testing.T) {
	st := newStorage(t)
	u := st.put("/tts/job.mp3", "audio/mpeg", mp3Bytes)
	h := newHarnessWith(t, testKey, tools.Media{InlineMax: 1 << 20})
	h.fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"status":"pending","runId":"run-42","model":"Elevenlabs-Turbo-V2.5","charged":true,"cost":0.0050388,"paymentSource":"USD","isApiRequest":true}`)
	})
	var polls atomic.Int32
	h.fake.Handle("GET "+ttsStatusPath, func(w http.ResponseWriter, r *http.Request) {
		switch polls.Add(1) {
		case 1:
			nanogpttest.JSON(w, map[string]any{"status": "pending", "runId": "run-42", "queuePosition": 3})
		case 2:
			nanogpttest.JSON(w, map[string]any{"status": "processing", "runId": "run-42"})
		default:
			nanogpttest.JSON(w, map[string]any{"status": "completed", "audioUrl": u, "contentType": "audio/mpeg", "model": "Elevenlabs-Turbo-V2.5"})
		}
	})
	start := time.Now()
	res := h.call("createSpeech", map[string]any{"model": "Elevenlabs-Turbo-V2.5", "input": "Hello", "voice": "Rachel"}, &mcp.Meta{ProgressToken: "speech-1"})
	mustOK(t, res)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("polling took %s; the harness polls every few milliseconds", d)
	}
	if n := countRequests(h, http.MethodPost, speechPath); n != 1 {
		t.Errorf("the paid POST was made %d times", n)
	}
	if polls.Load() != 3 {
		t.Errorf("%d status polls, want 3", polls.Load())
	}
	r, _ := h.fake.Last(ttsStatusPath)
	q, _ := url.ParseQuery(r.Query)
	if q.Get("runId") != "run-42" || q.Get("model") != "Elevenlabs-Turbo-V2.5" || q.Get("isApiRequest") != "true" || q.Get("cost") != "0.0050388" || q.Get("paymentSource") != "USD" {
		t.Errorf("status query %q", r.Query)
	}
	if ab := audioBlocks(res); len(ab) != 1 || ab[0].MIMEType != "audio/mpeg" || ab[0].Data != b64(mp3Bytes) {
		t.Errorf("audio blocks %+v", ab)
	}
	out := structured[tools.CreateSpeechOutput](t, res)
	if out.RunID != "run-42" || out.AudioURL != u || out.Cost == nil || *out.Cost != 0.0050388 || out.Currency != "USD" {
		t.Errorf("structured %+v", out)
	}
	waitProgress(t, h, "speech job processing")
}

// waitProgress waits for a progress notification whose message contains want.
func waitProgress(t *testing.T, h *harness, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		h.mu.Lock()
		var progress []string
		for _, n := range h.notifications {
			if n.Method == "notifications/progress" {
				progress = append(progress, fmt.Sprint(n.Params.AdditionalFields["message"]))
			}
		}
		h.mu.Unlock()
		if strings.Contains(strings.Join(progress, "|"), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("no progress notification says %q: %v", want, progress)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCreateSpeechJobFails(t *testing.T) {
	cases := []struct {
		name   string
		status string
		code   string
		want   []string
	}{
		{"error", `{"status":"error","error":"voice unavailable"}`, tools.CodeJobFailed, []string{"run-9", "voice unavailable", "not resubmitted"}},
		{"content policy", `{"status":"error","error":"blocked","code":"CONTENT_POLICY_VIOLATION"}`, tools.CodeContentPolicy, []string{"blocked", "content policy"}},
	}
	for _, c := range cases {
		h := newHarnessWith(t, testKey, tools.Media{})
		h.fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
			nanogpttest.JSON(w, map[string]any{"status": "pending", "runId": "run-9", "model": "Elevenlabs-V3", "cost": 0.01, "paymentSource": "USD"})
		})
		h.fake.Handle("GET "+ttsStatusPath, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, c.status)
		})
		mustFail(t, h.call("createSpeech", map[string]any{"model": "Elevenlabs-V3", "input": "x"}, nil), c.code, c.want...)
		if n := countRequests(h, http.MethodPost, speechPath); n != 1 {
			t.Errorf("%s: the paid POST was made %d times", c.name, n)
		}
	}

	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.Error(w, http.StatusBadRequest, `{"error":{"message":"Voice 'bob' is not available","type":"invalid_voice","code":"invalid_voice","param":"voice"}}`)
	})
	mustFail(t, h.call("createSpeech", map[string]any{"model": "tts-1", "input": "x", "voice": "bob"}, nil), tools.CodeInvalidArgument, "HTTP 400", "bob", "voice")
}
