package nanogpt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

const speechKey = "sk-nano-7f3e9b20-speech-test-secret"

// speechFake starts a fake NanoGPT accepting speechKey and a client pointed at it.
func speechFake(t *testing.T) (*nanogpttest.Server, *Client) {
	t.Helper()
	fake := nanogpttest.New(speechKey)
	t.Cleanup(fake.Close)
	return fake, New(Config{BaseURL: fake.URL, APIKey: speechKey})
}

// speechCount counts the requests the fake received for method and path.
func speechCount(fake *nanogpttest.Server, method, path string) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// speechRaw writes body as a JSON answer with status.
func speechRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

const speechTicket = `{"status":"pending","runId":"98b0d593-run","model":"Elevenlabs-Turbo-V2.5","charged":true,"cost":0.0050388,"paymentSource":"USD","isApiRequest":true}`

// speechTicketFake answers the speech POST with a pending ticket and every status
// poll with the next of statuses (the last one repeats).
func speechTicketFake(t *testing.T, statuses ...string) (*nanogpttest.Server, *Client) {
	t.Helper()
	fake, c := speechFake(t)
	fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
		speechRaw(w, http.StatusAccepted, speechTicket)
	})
	var mu sync.Mutex
	i := 0
	fake.Handle("GET "+ttsStatusPath, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := statuses[min(i, len(statuses)-1)]
		i++
		mu.Unlock()
		speechRaw(w, http.StatusOK, s)
	})
	return fake, c
}

var speechFast = PollOptions{Interval: 5 * time.Millisecond, MaxWait: 5 * time.Second}

func TestSpeechAudioBytesAnswer(t *testing.T) {
	fake, c := speechFake(t)
	audio := []byte("ID3\x04\x00fake-mp3-frames")
	fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write(audio)
	})
	sp, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "tts-1", Input: "Hello world", Voice: "alloy", ResponseFormat: "mp3", Speed: imgPtr(1.25)}, speechFast)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sp.Audio, audio) || sp.ContentType != "audio/mpeg" || sp.AudioURL != "" || sp.RunID != "" {
		t.Errorf("Speech = %+v", sp)
	}
	r, _ := fake.Last(speechPath)
	if r.Header.Get("Authorization") != "Bearer "+speechKey || r.Header.Get("x-api-key") != speechKey {
		t.Errorf("auth headers = %q / %q", r.Header.Get("Authorization"), r.Header.Get("x-api-key"))
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"model": "tts-1", "input": "Hello world", "voice": "alloy", "response_format": "mp3", "speed": 1.25}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}
}

func TestSpeechOmitsUnsetFields(t *testing.T) {
	fake, c := speechFake(t)
	fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte("RIFF....WAVE"))
	})
	sp, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "Kokoro-82m", Input: "hi"}, speechFast)
	if err != nil {
		t.Fatal(err)
	}
	if string(sp.Audio) != "RIFF....WAVE" || sp.ContentType != "application/octet-stream" {
		t.Errorf("Speech = %+v", sp)
	}
	r, _ := fake.Last(speechPath)
	if got := string(r.Body); got != `{"model":"Kokoro-82m","input":"hi"}` {
		t.Errorf("body = %s", got)
	}
}

func TestSpeechJSONAudioURLIsNotDownloaded(t *testing.T) {
	fake, c := speechFake(t)
	fake.Handle("GET /storage/audio-file.wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write([]byte("RIFF"))
	})
	audioURL := fake.URL + "/storage/audio-file.wav"
	fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.JSON(w, map[string]any{"audioUrl": audioURL, "contentType": "audio/wav", "model": "Kokoro-82m",
			"text": "Hello world", "voice": "af_bella", "speed": 1, "duration": 2.3, "cost": 0.001, "currency": "USD"})
	})
	sp, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "Kokoro-82m", Input: "Hello world"}, speechFast)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Audio != nil || sp.AudioURL != audioURL || sp.ContentType != "audio/wav" || sp.Duration != 2.3 || sp.Currency != "USD" {
		t.Errorf("Speech = %+v", sp)
	}
	if sp.Cost == nil || *sp.Cost != 0.001 {
		t.Errorf("Cost = %v", sp.Cost)
	}
	if n := speechCount(fake, http.MethodGet, "/storage/audio-file.wav"); n != 0 {
		t.Errorf("audio URL fetched %d times, want 0", n)
	}
}

func TestSpeechTicketIsPolledToCompletion(t *testing.T) {
	for _, postStatus := range []int{http.StatusAccepted, http.StatusOK} {
		t.Run(http.StatusText(postStatus), func(t *testing.T) {
			fake, c := speechFake(t)
			fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
				speechRaw(w, postStatus, `{"status":"pending","runId":"run/1+2 &x","model":"Elevenlabs-Turbo-V2.5","charged":true,"cost":0.0050388,"paymentSource":"USD","isApiRequest":true}`)
			})
			var polls atomic.Int32
			fake.Handle("GET "+ttsStatusPath, func(w http.ResponseWriter, r *http.Request) {
				switch polls.Add(1) {
				case 1:
					speechRaw(w, http.StatusOK, `{"status":"pending","runId":"run/1+2 &x","queuePosition":3}`)
				case 2:
					speechRaw(w, http.StatusOK, `{"status":"processing"}`)
				default:
					speechRaw(w, http.StatusOK, `{"status":"completed","audioUrl":"https://storage.example/file.mp3","contentType":"audio/mpeg","model":"Elevenlabs-Turbo-V2.5"}`)
				}
			})
			var seen []string
			opts := speechFast
			opts.OnPoll = func(status string, attempt int) { seen = append(seen, status) }
			sp, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "Elevenlabs-Turbo-V2.5", Input: "Hello", Voice: "Rachel"}, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := Speech{ContentType: "audio/mpeg", AudioURL: "https://storage.example/file.mp3", RunID: "run/1+2 &x", Currency: "USD"}
			if sp.Cost == nil || *sp.Cost != 0.0050388 {
				t.Errorf("Cost = %v", sp.Cost)
			}
			sp.Cost = nil
			if !reflect.DeepEqual(*sp, want) {
				t.Errorf("Speech = %+v, want %+v", *sp, want)
			}
			if !reflect.DeepEqual(seen, []string{"pending", "processing", "completed"}) {
				t.Errorf("OnPoll statuses = %v", seen)
			}
			if n := speechCount(fake, http.MethodPost, speechPath); n != 1 {
				t.Errorf("POST %s called %d times, want exactly 1", speechPath, n)
			}
			last, _ := fake.Last(ttsStatusPath)
			if last.Header.Get("Authorization") != "Bearer "+speechKey || last.Header.Get("x-api-key") != speechKey {
				t.Errorf("status poll auth headers missing")
			}
			q, err := url.ParseQuery(last.Query)
			if err != nil {
				t.Fatalf("status query %q: %v", last.Query, err)
			}
			wantQ := url.Values{"runId": {"run/1+2 &x"}, "model": {"Elevenlabs-Turbo-V2.5"}, "cost": {"0.0050388"},
				"paymentSource": {"USD"}, "isApiRequest": {"true"}}
			if !reflect.DeepEqual(q, wantQ) {
				t.Errorf("status query = %v, want %v", q, wantQ)
			}
			if strings.Contains(last.Query, " ") || strings.Contains(last.Query, "&x") {
				t.Errorf("status query is not URL-encoded: %q", last.Query)
			}
		})
	}
}

func TestSpeechTicketFailures(t *testing.T) {
	cases := map[string]struct {
		status          string
		wantStatus      string
		wantCode        string
		wantMsgContains string
	}{
		"content policy": {`{"status":"error","error":"Your text was flagged","code":"CONTENT_POLICY_VIOLATION"}`, "error", "CONTENT_POLICY_VIOLATION", "flagged"},
		"failed":         {`{"status":"failed","error":"provider crashed"}`, "failed", "", "provider crashed"},
		"error object":   {`{"status":"error","error":{"message":"voice not found","code":"invalid_voice"}}`, "error", "invalid_voice", "voice not found"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			fake, c := speechTicketFake(t, `{"status":"pending"}`, tc.status)
			sp, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "Elevenlabs-V3", Input: "x"}, speechFast)
			if sp != nil {
				t.Errorf("Speech = %+v, want nil", sp)
			}
			var je *JobError
			if !errors.As(err, &je) {
				t.Fatalf("err = %T %v, want *JobError", err, err)
			}
			if je.RunID != "98b0d593-run" || je.Status != tc.wantStatus || je.Code != tc.wantCode || !strings.Contains(je.Message, tc.wantMsgContains) {
				t.Errorf("JobError = %+v", je)
			}
			if !strings.Contains(err.Error(), "98b0d593-run") {
				t.Errorf("Error() = %q lacks the runId", err.Error())
			}
			if n := speechCount(fake, http.MethodPost, speechPath); n != 1 {
				t.Errorf("POST called %d times, want 1", n)
			}
			if n := speechCount(fake, http.MethodGet, ttsStatusPath); n != 2 {
				t.Errorf("status polled %d times, want 2", n)
			}
		})
	}
}

func TestSpeechNeverFinishingJobTimesOut(t *testing.T) {
	fake, c := speechTicketFake(t, `{"status":"pending"}`)
	start := time.Now()
	_, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "Elevenlabs-V3", Input: "x"},
		PollOptions{Interval: 5 * time.Millisecond, MaxWait: 80 * time.Millisecond})
	elapsed := time.Since(start)
	var pe *PendingError
	if !errors.As(err, &pe) || pe.Job.RunID != "98b0d593-run" || pe.Job.Kind != JobSpeech || pe.Job.Status != "pending" {
		t.Fatalf("err = %v, want *PendingError", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("took %s, want about MaxWait", elapsed)
	}
	if n := speechCount(fake, http.MethodGet, ttsStatusPath); n < 2 {
		t.Errorf("status polled %d times, want several", n)
	}
	if n := speechCount(fake, http.MethodPost, speechPath); n != 1 {
		t.Errorf("POST called %d times, want 1", n)
	}
}

// A wait that runs out hands back the Job; waiting again with it (through
// JSON, as a server keeps it) polls the same job, and never resubmits it.
func TestSpeechWaitAgainWithTheJob(t *testing.T) {
	fake, c := speechTicketFake(t, `{"status":"pending"}`, `{"status":"processing"}`, `{"status":"processing"}`,
		`{"status":"completed","audioUrl":"https://storage.example/a.mp3","contentType":"audio/mpeg"}`)
	_, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "Elevenlabs-V3", Input: "x"}, PollOptions{Interval: 5 * time.Millisecond, MaxWait: 12 * time.Millisecond})
	var pe *PendingError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *PendingError", err)
	}
	kept, _ := json.Marshal(pe.Job)
	var job Job
	if err := json.Unmarshal(kept, &job); err != nil {
		t.Fatal(err)
	}
	sp, err := c.WaitSpeech(context.Background(), job, speechFast)
	if err != nil {
		t.Fatal(err)
	}
	if sp.AudioURL != "https://storage.example/a.mp3" || sp.RunID != "98b0d593-run" || sp.Cost == nil {
		t.Errorf("speech = %+v", sp)
	}
	if n := speechCount(fake, http.MethodPost, speechPath); n != 1 {
		t.Errorf("POST called %d times, want 1", n)
	}
	if _, err := c.WaitTranscription(context.Background(), job, speechFast); err == nil {
		t.Error("WaitTranscription took a speech job")
	}
}

func TestSpeechCancelDuringPollingReturnsPromptly(t *testing.T) {
	for name, opts := range map[string]PollOptions{
		"between polls": {Interval: time.Hour, MaxWait: 2 * time.Hour},
		"short polls":   {Interval: 5 * time.Millisecond, MaxWait: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			_, c := speechTicketFake(t, `{"status":"processing"}`)
			ctx, cancel := context.WithCancel(context.Background())
			var cancelled atomic.Int64
			time.AfterFunc(60*time.Millisecond, func() { cancelled.Store(time.Now().UnixNano()); cancel() })
			_, err := c.CreateSpeech(ctx, SpeechRequest{Model: "Elevenlabs-V3", Input: "x"}, opts)
			lag := time.Since(time.Unix(0, cancelled.Load()))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if lag > 100*time.Millisecond {
				t.Errorf("returned %s after cancel, want within 100ms", lag)
			}
		})
	}
}

func TestSpeechCancelDuringStatusRequest(t *testing.T) {
	fake, c := speechFake(t)
	fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) { speechRaw(w, http.StatusAccepted, speechTicket) })
	fake.Handle("GET "+ttsStatusPath, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hang until the client gives up
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(60*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.CreateSpeech(ctx, SpeechRequest{Model: "m", Input: "x"}, speechFast)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s", d)
	}
}

func TestSpeechTransientPollErrorsAreRetried(t *testing.T) {
	t.Run("recovers", func(t *testing.T) {
		fake, c := speechFake(t)
		fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) { speechRaw(w, http.StatusAccepted, speechTicket) })
		var fails atomic.Int32
		// Fail the first three polls with 502/503/500, then answer pending, then completed.
		var mu sync.Mutex
		scripted := []string{`{"status":"pending"}`, `{"status":"completed","audioUrl":"https://storage.example/x.mp3","contentType":"audio/mpeg"}`}
		fake.Handle("GET "+ttsStatusPath, func(w http.ResponseWriter, r *http.Request) {
			if n := fails.Add(1); n <= 3 {
				nanogpttest.Error(w, []int{502, 503, 500}[n-1], `{"error":{"message":"upstream hiccup"}}`)
				return
			}
			mu.Lock()
			s := scripted[0]
			if len(scripted) > 1 {
				scripted = scripted[1:]
			}
			mu.Unlock()
			speechRaw(w, http.StatusOK, s)
		})
		var seen []string
		opts := speechFast
		opts.OnPoll = func(status string, attempt int) { seen = append(seen, status) }
		sp, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "m", Input: "x"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if sp.AudioURL != "https://storage.example/x.mp3" {
			t.Errorf("Speech = %+v", sp)
		}
		if !reflect.DeepEqual(seen, []string{"retrying", "retrying", "retrying", "pending", "completed"}) {
			t.Errorf("OnPoll = %v", seen)
		}
		if n := speechCount(fake, http.MethodPost, speechPath); n != 1 {
			t.Errorf("POST called %d times, want 1", n)
		}
	})
	t.Run("gives up after repeated failures", func(t *testing.T) {
		fake, c := speechFake(t)
		fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) { speechRaw(w, http.StatusAccepted, speechTicket) })
		fake.Handle("GET "+ttsStatusPath, func(w http.ResponseWriter, r *http.Request) {
			nanogpttest.Error(w, http.StatusServiceUnavailable, `{"error":{"message":"down"}}`)
		})
		_, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "m", Input: "x"}, speechFast)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
			t.Fatalf("err = %v, want 503 *APIError", err)
		}
		if n := speechCount(fake, http.MethodGet, ttsStatusPath); n != maxTransientPolls+1 {
			t.Errorf("status polled %d times, want %d", n, maxTransientPolls+1)
		}
		if n := speechCount(fake, http.MethodPost, speechPath); n != 1 {
			t.Errorf("POST called %d times, want 1", n)
		}
	})
	t.Run("4xx is final", func(t *testing.T) {
		fake, c := speechFake(t)
		fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) { speechRaw(w, http.StatusAccepted, speechTicket) })
		fake.Handle("GET "+ttsStatusPath, func(w http.ResponseWriter, r *http.Request) {
			nanogpttest.Error(w, http.StatusNotFound, `{"error":"Run not found"}`)
		})
		_, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "m", Input: "x"}, speechFast)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
			t.Fatalf("err = %v, want 404 *APIError", err)
		}
		if n := speechCount(fake, http.MethodGet, ttsStatusPath); n != 1 {
			t.Errorf("status polled %d times, want 1", n)
		}
	})
}

func TestSpeechClientTimeoutBoundsEachRequestNotThePolling(t *testing.T) {
	fake, _ := speechTicketFake(t, `{"status":"pending"}`, `{"status":"pending"}`, `{"status":"pending"}`,
		`{"status":"pending"}`, `{"status":"pending"}`, `{"status":"completed","audioUrl":"https://storage.example/y.mp3"}`)
	c := New(Config{BaseURL: fake.URL, APIKey: speechKey, Timeout: 150 * time.Millisecond})
	start := time.Now()
	sp, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "m", Input: "x"},
		PollOptions{Interval: 50 * time.Millisecond, MaxWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if sp.AudioURL != "https://storage.example/y.mp3" {
		t.Errorf("Speech = %+v", sp)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("finished in %s; the test needs polling to outlast the client timeout", d)
	}
}

func TestSpeechUnexpectedAnswers(t *testing.T) {
	cases := map[string]struct {
		ctype, body string
		status      int
		wantCode    string
	}{
		"html":               {"text/html", "<html>gateway</html>", 200, "invalid_response"},
		"json without audio": {"application/json", `{"ok":true}`, 200, "invalid_response"},
		"empty audio":        {"audio/mpeg", "", 200, "invalid_response"},
		"json error status":  {"application/json", `{"status":"error","error":"bad voice","code":"invalid_voice"}`, 200, "invalid_voice"},
		"openai error 400":   {"application/json", `{"error":{"message":"Invalid voice","type":"invalid_request_error","code":"invalid_voice"}}`, 400, "invalid_voice"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			fake, c := speechFake(t)
			fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			_, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "m", Input: "x"}, speechFast)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != tc.wantCode {
				t.Fatalf("err = %T %v, want *APIError code %s", err, err, tc.wantCode)
			}
			if n := speechCount(fake, http.MethodGet, ttsStatusPath); n != 0 {
				t.Errorf("status polled %d times, want 0", n)
			}
		})
	}
}

func TestSpeechSniffsMissingContentType(t *testing.T) {
	fake, c := speechFake(t)
	fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // suppress net/http's own sniffing
		_, _ = w.Write([]byte(`{"audioUrl":"https://storage.example/z.wav","contentType":"audio/wav"}`))
	})
	sp, err := c.CreateSpeech(context.Background(), SpeechRequest{Model: "m", Input: "x"}, speechFast)
	if err != nil {
		t.Fatal(err)
	}
	if sp.AudioURL != "https://storage.example/z.wav" {
		t.Errorf("Speech = %+v", sp)
	}
}

// --- Download ---

// speechStorage is a plain server standing in for NanoGPT's storage: it records
// the headers it saw and serves handler.
func speechStorage(t *testing.T, handler http.HandlerFunc) (*httptest.Server, func() http.Header) {
	t.Helper()
	var mu sync.Mutex
	var seen http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() http.Header { mu.Lock(); defer mu.Unlock(); return seen }
}

func TestDownloadSendsNoAuthHeaders(t *testing.T) {
	srv, seen := speechStorage(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write([]byte("mp3-bytes"))
	})
	c := New(Config{BaseURL: "https://nano-gpt.invalid", APIKey: speechKey})
	data, ctype, err := c.Download(context.Background(), srv.URL+"/file.mp3?X-Amz-Signature=secret", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "mp3-bytes" || ctype != "audio/mpeg" {
		t.Errorf("got %q %q", data, ctype)
	}
	h := seen()
	if h.Get("Authorization") != "" || h.Get("x-api-key") != "" {
		t.Errorf("auth header sent to storage: %v", h)
	}
	for k, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, speechKey) {
				t.Errorf("key leaked in header %s", k)
			}
		}
	}
}

func TestDownloadEnforcesSizeCap(t *testing.T) {
	big := bytes.Repeat([]byte("a"), 1000)
	for name, chunked := range map[string]bool{"content-length": false, "chunked": true} {
		t.Run(name, func(t *testing.T) {
			srv, _ := speechStorage(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "image/png")
				if chunked {
					w.(http.Flusher).Flush() // no Content-Length
				}
				_, _ = w.Write(big)
			})
			c := New(Config{APIKey: speechKey})
			if _, _, err := c.Download(context.Background(), srv.URL+"/x.png?token=secret", 999); err == nil {
				t.Fatal("want an error for a body over the cap")
			} else if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the signed query: %v", err)
			}
			data, _, err := c.Download(context.Background(), srv.URL+"/x.png", 1000)
			if err != nil || len(data) != 1000 {
				t.Errorf("at the cap: %d bytes, err %v", len(data), err)
			}
		})
	}
}

func TestDownloadNon2xxIsAPIError(t *testing.T) {
	srv, _ := speechStorage(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"))
	})
	c := New(Config{APIKey: speechKey})
	_, _, err := c.Download(context.Background(), srv.URL+"/old.png?sig=secret", 0)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("err = %v, want 403 *APIError", err)
	}
	if strings.Contains(err.Error(), "sig=secret") {
		t.Errorf("error leaks the signed query: %v", err)
	}
}

func TestDownloadRejectsNonHTTPURL(t *testing.T) {
	c := New(Config{APIKey: speechKey})
	if _, _, err := c.Download(context.Background(), "file:///etc/passwd", 0); err == nil {
		t.Fatal("want an error for a file: URL")
	}
}
