package nanogpt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

var videoFast = PollOptions{Interval: 2 * time.Millisecond, MaxWait: 5 * time.Second}

func videoDocs(t *testing.T, knobs func(d *nanogpttest.Docs)) (*nanogpttest.Docs, *Client) {
	t.Helper()
	fake := nanogpttest.NewDocs(speechKey)
	t.Cleanup(fake.Close)
	if knobs != nil {
		fake.Set(knobs)
	}
	return fake, New(Config{BaseURL: fake.URL, APIKey: speechKey})
}

// Text-to-video and image-to-video reach the wire with the documented names,
// and both documented status shapes end with the video.
func TestVideoSubmitAndWait(t *testing.T) {
	for _, flat := range []bool{false, true} {
		fake, c := videoDocs(t, func(d *nanogpttest.Docs) { d.VideoFlat, d.Polls = flat, 2 })
		seed := int64(7)
		job, err := c.SubmitVideo(context.Background(), VideoRequest{Model: "veo2-video", Prompt: "a cat", Duration: "5", AspectRatio: "16:9",
			Resolution: "720p", NegativePrompt: "blur", Seed: &seed, GenerateAudio: imgPtr(false), ImageURL: "https://example.com/cat.png"})
		if err != nil {
			t.Fatal(err)
		}
		if job.Kind != JobVideo || !strings.HasPrefix(job.RunID, "vid_") || job.Cost == nil || *job.Cost != 0.35 || job.Currency != "USD" {
			t.Fatalf("job = %+v", job)
		}
		sent, _ := fake.Last(videoPath)
		body := sent.JSON()
		for k, want := range map[string]any{"model": "veo2-video", "prompt": "a cat", "duration": "5", "aspect_ratio": "16:9", "resolution": "720p",
			"negative_prompt": "blur", "seed": 7.0, "generateAudio": false, "imageUrl": "https://example.com/cat.png"} {
			if body[k] != want {
				t.Errorf("%s = %#v, want %#v", k, body[k], want)
			}
		}
		var statuses []string
		poll := videoFast
		poll.OnPoll = func(status string, _ int) { statuses = append(statuses, status) }
		v, err := c.WaitVideo(context.Background(), job, poll)
		if err != nil {
			t.Fatalf("flat=%v: %v", flat, err)
		}
		if v.URL != fake.URL+"/files/video.mp4" || v.RunID != job.RunID || *v.Charged != 0.35 {
			t.Errorf("flat=%v: video = %+v", flat, v)
		}
		if !flat && (v.Cost == nil || *v.Cost != 0.35) {
			t.Errorf("the final cost = %v", v.Cost)
		}
		if len(statuses) != 3 {
			t.Errorf("flat=%v: statuses %v, want queued, in progress, completed", flat, statuses)
		}
	}
}

// A wait that runs out returns the Job, and a later wait finishes it.
func TestVideoWaitBudget(t *testing.T) {
	fake, c := videoDocs(t, func(d *nanogpttest.Docs) { d.Polls = 1000 })
	job, err := c.SubmitVideo(context.Background(), VideoRequest{Model: "veo2-video", Prompt: "a cat"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.WaitVideo(context.Background(), job, PollOptions{Interval: 2 * time.Millisecond, MaxWait: 40 * time.Millisecond})
	var pe *PendingError
	if !errors.As(err, &pe) || pe.Job.RunID != job.RunID || pe.Job.Status == "pending" {
		t.Fatalf("err = %v, want *PendingError with NanoGPT's status", err)
	}
	kept, _ := json.Marshal(pe.Job)
	var again Job
	_ = json.Unmarshal(kept, &again)
	fake.Set(func(d *nanogpttest.Docs) { d.Polls = 1 })
	if v, err := c.WaitVideo(context.Background(), again, videoFast); err != nil || v.URL == "" {
		t.Fatalf("second wait: %v %v", v, err)
	}
}

// A failed job carries NanoGPT's user-facing reason, and a policy code.
func TestVideoFailed(t *testing.T) {
	for _, flat := range []bool{false, true} {
		_, c := videoDocs(t, func(d *nanogpttest.Docs) { d.VideoFails, d.VideoFlat = true, flat })
		job, err := c.SubmitVideo(context.Background(), VideoRequest{Model: "veo2-video", Prompt: "x"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.WaitVideo(context.Background(), job, videoFast)
		var je *JobError
		if !errors.As(err, &je) || !strings.Contains(je.Message, "Please modify your prompt") || strings.ToLower(je.Status) != "failed" {
			t.Fatalf("flat=%v: err = %v", flat, err)
		}
		if !flat && je.Code != "CONTENT_POLICY_VIOLATION" {
			t.Errorf("code = %q", je.Code)
		}
	}
}

func TestVideoUnknownJob(t *testing.T) {
	_, c := videoDocs(t, nil)
	job := Job{Kind: JobVideo, RunID: "vid_nope", CheckPath: videoStatusPath + "?requestId=vid_nope"}
	_, err := c.WaitVideo(context.Background(), job, videoFast)
	var je *JobError
	if !errors.As(err, &je) || !strings.Contains(je.Message, "does not know the job") {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.WaitSpeech(context.Background(), job, videoFast); err == nil {
		t.Error("WaitSpeech took a video job")
	}
}

// The submit errors (E5) keep their upper-case type as the code, and the refund note.
func TestVideoSubmitRefused(t *testing.T) {
	fake, c := speechFake(t)
	fake.Handle("POST "+videoPath, func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.Error(w, http.StatusBadRequest, `{"error":{"message":"Your prompt was flagged","type":"CONTENT_POLICY_VIOLATION"},"refundMessage":"Your balance has been refunded."}`)
	})
	_, err := c.SubmitVideo(context.Background(), VideoRequest{Model: "m", Prompt: "x"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "content_policy_violation" || ae.Refund != "Your balance has been refunded." {
		t.Fatalf("err = %#v", err)
	}
}

func TestVideoModels(t *testing.T) {
	_, c := videoDocs(t, nil)
	ms, err := c.ListModels(context.Background(), VideoModels)
	if err != nil || len(ms) != 1 || ms[0].ID != "veo2-video" || !strings.Contains(strings.Join(ms[0].Capabilities, ","), "image_to_video") || ms[0].Price != "$0.07 per second" {
		t.Fatalf("%+v %v", ms, err)
	}
}
