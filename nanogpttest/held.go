package nanogpttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Held is a fake NanoGPT for cancellation tests: its answers depend on a marker
// in the prompt (ask) and it holds requests open until their context ends:
//   - "hang": holds the chat request; "stream-hang": holds it mid-stream;
//   - "busy": answers 503 (a retry follows); "slow…": answers after 300 ms;
//   - any other prompt: "echo: <prompt>";
//   - speech: a pending ticket whose status poll hangs.
//
// Started receives the marker of every request that began to hang or wait,
// Released the time each held request's context ended.
type Held struct {
	*Server
	Started  chan string
	Released chan time.Time
}

// NewHeld starts a Held fake that accepts key. Close it when done.
func NewHeld(key string) *Held {
	f := &Held{Server: New(key), Started: make(chan string, 16), Released: make(chan time.Time, 16)}
	hang := func(r *http.Request, marker string) {
		f.Started <- marker
		<-r.Context().Done()
		f.Released <- time.Now()
	}
	f.Handle("POST /api/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		prompt := ""
		if len(req.Messages) > 0 {
			prompt = req.Messages[len(req.Messages)-1].Content
		}
		switch {
		case prompt == "hang":
			hang(r, prompt)
		case prompt == "stream-hang":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial \"}}]}\n\n")
			w.(http.Flusher).Flush()
			hang(r, prompt)
		case prompt == "busy":
			f.Started <- prompt
			Error(w, http.StatusServiceUnavailable, `{"error":{"message":"overloaded"}}`)
		case strings.HasPrefix(prompt, "slow"):
			time.Sleep(300 * time.Millisecond)
			JSON(w, ChatCompletion("m", "done: "+prompt))
		default:
			JSON(w, ChatCompletion("m", "echo: "+prompt))
		}
	})
	f.Handle("POST /api/v1/audio/speech", func(w http.ResponseWriter, r *http.Request) {
		f.Started <- "speech-job"
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"status":"pending","runId":"run-cancel","model":"m"}`)
	})
	f.Handle("GET /api/tts/status", func(w http.ResponseWriter, r *http.Request) { hang(r, "poll") })
	return f
}
