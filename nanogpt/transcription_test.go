package nanogpt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

const sttKey = "sk-nano-2c9d4e61-stt-test-secret"

// sttFake starts a fake NanoGPT accepting sttKey and a client pointed at it.
func sttFake(t *testing.T) (*nanogpttest.Server, *Client) {
	t.Helper()
	fake := nanogpttest.New(sttKey)
	t.Cleanup(fake.Close)
	return fake, New(Config{BaseURL: fake.URL, APIKey: sttKey})
}

// sttRaw writes body as a JSON answer with status.
func sttRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func sttCount(fake *nanogpttest.Server, method, path string) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

const sttSync = `{"transcription":"Hello, this is a test transcription.","metadata":{"fileName":"audio.mp3","fileSize":1234567,"chargedDuration":2.5,"actualDuration":2.4,"language":"en","cost":0.0012,"currency":"USD","model":"Whisper-Large-V3"}}`

const sttTicket = `{"runId":"abc123def456","status":"pending","model":"Elevenlabs-STT","cost":0.075,"paymentSource":"USD","isApiRequest":true,"fileName":"talk.mp3","fileSize":2048,"chargedDuration":2.5}`

var sttFast = PollOptions{Interval: 5 * time.Millisecond, MaxWait: 5 * time.Second}

func TestTranscribeMultipartUpload(t *testing.T) {
	fake, c := sttFake(t)
	audio := []byte("ID3\x04\x00\x00fake mp3 \x00\xff bytes")
	type got struct {
		filename, partType, model, language string
		data                                []byte
		otherFiles                          int
	}
	var g got
	var parseErr error
	fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) {
		if parseErr = r.ParseMultipartForm(10 << 20); parseErr != nil {
			nanogpttest.Error(w, http.StatusBadRequest, `{"error":"bad multipart"}`)
			return
		}
		files := r.MultipartForm.File["audio"]
		if len(files) != 1 {
			nanogpttest.Error(w, http.StatusBadRequest, `{"error":"no audio"}`)
			return
		}
		f, _ := files[0].Open()
		g.data, _ = io.ReadAll(f)
		f.Close()
		g.filename, g.partType = files[0].Filename, files[0].Header.Get("Content-Type")
		g.model, g.language = r.FormValue("model"), r.FormValue("language")
		g.otherFiles = len(r.MultipartForm.File) - 1
		sttRaw(w, http.StatusOK, sttSync)
	})
	res, err := c.Transcribe(context.Background(), TranscriptionRequest{Model: "Whisper-Large-V3", Language: "en",
		Audio: audio, FileName: `my "talk".mp3`, ContentType: "audio/mpeg"}, sttFast)
	if parseErr != nil {
		t.Fatalf("fake could not parse the multipart body: %v", parseErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.data, audio) || g.filename != `my "talk".mp3` || g.partType != "audio/mpeg" ||
		g.model != "Whisper-Large-V3" || g.language != "en" || g.otherFiles != 0 {
		t.Errorf("upload = %+v", g)
	}
	r, _ := fake.Last(transcribePath)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data; boundary=") {
		t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
	}
	if r.Header.Get("Authorization") != "Bearer "+sttKey || r.Header.Get("x-api-key") != sttKey {
		t.Errorf("auth headers = %q / %q", r.Header.Get("Authorization"), r.Header.Get("x-api-key"))
	}
	want := &Transcription{Text: "Hello, this is a test transcription.", Language: "en", Duration: 2.4, Cost: res.Cost, Currency: "USD"}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Transcription = %+v, want %+v", res, want)
	}
	if res.Cost == nil || *res.Cost != 0.0012 {
		t.Errorf("Cost = %v", res.Cost)
	}
	if sttCount(fake, http.MethodPost, transcribeStatusPath) != 0 {
		t.Error("a sync answer was polled")
	}
}

func TestTranscribeMultipartOmitsUnsetLanguage(t *testing.T) {
	fake, c := sttFake(t)
	var hasLanguage bool
	var filename string
	fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			nanogpttest.Error(w, 400, `{"error":"bad"}`)
			return
		}
		_, hasLanguage = r.MultipartForm.Value["language"]
		if fh := r.MultipartForm.File["audio"]; len(fh) == 1 {
			filename = fh[0].Filename
		}
		sttRaw(w, http.StatusOK, `{"transcription":"","metadata":{"chargedDuration":"0.1"}}`)
	})
	res, err := c.Transcribe(context.Background(), TranscriptionRequest{Model: "Wizper", Audio: []byte("RIFF"), ContentType: "audio/wav"}, sttFast)
	if err != nil {
		t.Fatal(err)
	}
	if hasLanguage {
		t.Error("language sent although unset")
	}
	if filename != "audio.wav" {
		t.Errorf("default filename = %q", filename)
	}
	if res.Text != "" || res.Duration != 0.1 {
		t.Errorf("Transcription = %+v (chargedDuration as a string is the fallback duration)", res)
	}
}

func TestTranscribeURLModeSendsJSON(t *testing.T) {
	fake, c := sttFake(t)
	fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) { sttRaw(w, http.StatusOK, sttSync) })
	_, err := c.Transcribe(context.Background(), TranscriptionRequest{Model: "Whisper-Large-V3", Language: "de",
		AudioURL: "https://example.com/audio.mp3"}, sttFast)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := fake.Last(transcribePath)
	if r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"audioUrl": "https://example.com/audio.mp3", "model": "Whisper-Large-V3", "language": "de"}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}
	if r.Header.Get("Authorization") != "Bearer "+sttKey || r.Header.Get("x-api-key") != sttKey {
		t.Error("auth headers missing")
	}
}

func TestTranscribeNeedsExactlyOneSource(t *testing.T) {
	fake, c := sttFake(t)
	for name, req := range map[string]TranscriptionRequest{
		"neither": {Model: "m"},
		"both":    {Model: "m", Audio: []byte("x"), AudioURL: "https://example.com/a.mp3"},
	} {
		if _, err := c.Transcribe(context.Background(), req, sttFast); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests sent, want 0", n)
	}
}

func TestTranscribeAsyncJobIsPolledToCompletion(t *testing.T) {
	for name, first := range map[string]struct {
		status int
		body   string
	}{
		"202":         {http.StatusAccepted, sttTicket},
		"200 pending": {http.StatusOK, sttTicket},
	} {
		t.Run(name, func(t *testing.T) {
			fake, c := sttFake(t)
			fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) { sttRaw(w, first.status, first.body) })
			var polls atomic.Int32
			fake.Handle("POST "+transcribeStatusPath, func(w http.ResponseWriter, r *http.Request) {
				switch polls.Add(1) {
				case 1:
					sttRaw(w, http.StatusOK, `{"status":"pending"}`)
				case 2:
					sttRaw(w, http.StatusOK, `{"status":"processing"}`)
				default:
					sttRaw(w, http.StatusOK, `{"status":"completed","transcription":"Hello everyone",
						"metadata":{"chargedDuration":2.5,"actualDuration":2.2,"language":"en","cost":0.075,"currency":"USD"},
						"words":[{"text":"Hello","start":0.5,"end":0.9,"type":"word","speaker_id":"speaker_0"}],
						"diarization":{"segments":[{"speaker":"Speaker 1","text":"Hello everyone","start":0.5,"end":1.5}]}}`)
				}
			})
			var seen []string
			opts := sttFast
			opts.OnPoll = func(status string, attempt int) { seen = append(seen, status) }
			res, err := c.Transcribe(context.Background(), TranscriptionRequest{Model: "Elevenlabs-STT", Audio: []byte("abcd"),
				FileName: "talk.mp3", ContentType: "audio/mpeg"}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != "Hello everyone" || res.RunID != "abc123def456" || res.Language != "en" || res.Duration != 2.2 ||
				res.Currency != "USD" || res.Cost == nil || *res.Cost != 0.075 {
				t.Errorf("Transcription = %+v", res)
			}
			var words []map[string]any
			if err := json.Unmarshal(res.Words, &words); err != nil || len(words) != 1 || words[0]["speaker_id"] != "speaker_0" {
				t.Errorf("Words = %s (%v)", res.Words, err)
			}
			var dia struct {
				Segments []struct{ Speaker, Text string }
			}
			if err := json.Unmarshal(res.Diarization, &dia); err != nil || len(dia.Segments) != 1 || dia.Segments[0].Speaker != "Speaker 1" {
				t.Errorf("Diarization = %s (%v)", res.Diarization, err)
			}
			if !reflect.DeepEqual(seen, []string{"pending", "processing", "completed"}) {
				t.Errorf("OnPoll = %v", seen)
			}
			if n := sttCount(fake, http.MethodPost, transcribePath); n != 1 {
				t.Errorf("POST %s called %d times, want exactly 1", transcribePath, n)
			}
			last, _ := fake.Last(transcribeStatusPath)
			if last.Header.Get("Content-Type") != "application/json" {
				t.Errorf("status Content-Type = %q", last.Header.Get("Content-Type"))
			}
			if last.Header.Get("Authorization") != "Bearer "+sttKey || last.Header.Get("x-api-key") != sttKey {
				t.Error("status poll auth headers missing")
			}
			want := map[string]any{"runId": "abc123def456", "cost": 0.075, "paymentSource": "USD", "isApiRequest": true,
				"fileName": "talk.mp3", "fileSize": 2048.0, "chargedDuration": 2.5}
			if got := last.JSON(); !reflect.DeepEqual(got, want) {
				t.Errorf("status body = %v, want %v", got, want)
			}
		})
	}
}

func TestTranscribeStatusBodySendsOnlyWhatItHas(t *testing.T) {
	fake, c := sttFake(t)
	fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) {
		sttRaw(w, http.StatusAccepted, `{"runId":"r-9","status":"pending"}`)
	})
	fake.Handle("POST "+transcribeStatusPath, func(w http.ResponseWriter, r *http.Request) {
		sttRaw(w, http.StatusOK, `{"status":"completed","transcription":"ok"}`)
	})
	res, err := c.Transcribe(context.Background(), TranscriptionRequest{Model: "Elevenlabs-STT", AudioURL: "https://example.com/long.mp3"}, sttFast)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "ok" || res.RunID != "r-9" || res.Cost != nil || res.Words != nil || res.Diarization != nil {
		t.Errorf("Transcription = %+v", res)
	}
	last, _ := fake.Last(transcribeStatusPath)
	if got, want := last.JSON(), map[string]any{"runId": "r-9", "isApiRequest": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("status body = %v, want %v", got, want)
	}
}

func TestTranscribeFailedJobIsJobError(t *testing.T) {
	for name, body := range map[string]string{
		"failed": `{"status":"failed","error":"Audio could not be decoded"}`,
		"error":  `{"status":"error","error":"Audio could not be decoded"}`,
	} {
		t.Run(name, func(t *testing.T) {
			fake, c := sttFake(t)
			fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) { sttRaw(w, http.StatusAccepted, sttTicket) })
			fake.Handle("POST "+transcribeStatusPath, func(w http.ResponseWriter, r *http.Request) { sttRaw(w, http.StatusOK, body) })
			res, err := c.Transcribe(context.Background(), TranscriptionRequest{Model: "Elevenlabs-STT", AudioURL: "https://example.com/a.mp3"}, sttFast)
			if res != nil {
				t.Errorf("res = %+v, want nil", res)
			}
			var je *JobError
			if !errors.As(err, &je) {
				t.Fatalf("err = %T %v, want *JobError", err, err)
			}
			if je.RunID != "abc123def456" || je.Status != name || je.Message != "Audio could not be decoded" {
				t.Errorf("JobError = %+v", je)
			}
			if n := sttCount(fake, http.MethodPost, transcribePath); n != 1 {
				t.Errorf("POST called %d times, want 1", n)
			}
		})
	}
}

func TestTranscribeStatus404IsAPIError(t *testing.T) {
	fake, c := sttFake(t)
	fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) { sttRaw(w, http.StatusAccepted, sttTicket) })
	fake.Handle("POST "+transcribeStatusPath, func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.Error(w, http.StatusNotFound, `{"error":"Job not found"}`)
	})
	_, err := c.Transcribe(context.Background(), TranscriptionRequest{Model: "Elevenlabs-STT", AudioURL: "https://example.com/a.mp3"}, sttFast)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Message != "Job not found" {
		t.Fatalf("err = %v, want 404 *APIError", err)
	}
	if n := sttCount(fake, http.MethodPost, transcribeStatusPath); n != 1 {
		t.Errorf("status polled %d times, want 1", n)
	}
}

func TestTranscribeTimeoutAndCancel(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		fake, c := sttFake(t)
		fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) { sttRaw(w, http.StatusAccepted, sttTicket) })
		fake.Handle("POST "+transcribeStatusPath, func(w http.ResponseWriter, r *http.Request) { sttRaw(w, http.StatusOK, `{"status":"processing"}`) })
		_, err := c.Transcribe(context.Background(), TranscriptionRequest{Model: "m", AudioURL: "https://example.com/a.mp3"},
			PollOptions{Interval: 5 * time.Millisecond, MaxWait: 60 * time.Millisecond})
		var pe *PendingError
		if !errors.As(err, &pe) || pe.Job.Status != "processing" || pe.Job.Kind != JobTranscription || !strings.Contains(pe.Error(), "processing") {
			t.Fatalf("err = %v, want *PendingError", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		fake, c := sttFake(t)
		fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) { sttRaw(w, http.StatusAccepted, sttTicket) })
		fake.Handle("POST "+transcribeStatusPath, func(w http.ResponseWriter, r *http.Request) { sttRaw(w, http.StatusOK, `{"status":"pending"}`) })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Transcribe(ctx, TranscriptionRequest{Model: "m", AudioURL: "https://example.com/a.mp3"}, PollOptions{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the caller's context error", err)
		}
		var je *JobError
		if errors.As(err, &je) {
			t.Errorf("the caller's deadline was reported as a JobError: %v", err)
		}
		if d := time.Since(start); d > 150*time.Millisecond {
			t.Errorf("took %s, want ~50ms", d)
		}
	})
}

func TestTranscribeErrorAnswers(t *testing.T) {
	cases := map[string]struct {
		status     int
		body       string
		wantStatus int
		wantCode   string
	}{
		"413":               {http.StatusRequestEntityTooLarge, `{"error":"File too large, use URL upload for files >3MB"}`, 413, ""},
		"402 legacy":        {http.StatusPaymentRequired, `{"error":"Insufficient balance","requiredBalance":0.0035,"status":402}`, 402, ""},
		"no transcription":  {http.StatusOK, `{"metadata":{}}`, 200, "invalid_response"},
		"202 without runId": {http.StatusAccepted, `{"status":"pending"}`, 202, "invalid_response"},
		"not json":          {http.StatusOK, `<html>`, 200, "invalid_response"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			fake, c := sttFake(t)
			fake.Handle("POST "+transcribePath, func(w http.ResponseWriter, r *http.Request) { sttRaw(w, tc.status, tc.body) })
			_, err := c.Transcribe(context.Background(), TranscriptionRequest{Model: "m", Audio: []byte("x")}, sttFast)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != tc.wantStatus || ae.Code != tc.wantCode {
				t.Fatalf("err = %T %v, want *APIError %d %q", err, err, tc.wantStatus, tc.wantCode)
			}
			if n := sttCount(fake, http.MethodPost, transcribeStatusPath); n != 0 {
				t.Errorf("status polled %d times", n)
			}
		})
	}
}
