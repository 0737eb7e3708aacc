package tools_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// jobsHarness serves the tools against the documented fake, with jobs that
// take Polls status checks, and a caller that the test can change.
type jobsHarness struct {
	fake   *nanogpttest.Docs
	client *client.Client
	mu     sync.Mutex
	owner  string
}

func newJobsHarness(t *testing.T, media tools.Media) *jobsHarness {
	t.Helper()
	fake := nanogpttest.NewDocs(testKey)
	t.Cleanup(fake.Close)
	fake.Set(func(d *nanogpttest.Docs) { d.SpeechAsync, d.TranscribeAsync, d.Polls = true, true, 3 })
	h := &jobsHarness{fake: fake}
	c := nanogpt.New(nanogpt.Config{BaseURL: fake.URL, APIKey: testKey, Timeout: 10 * time.Second})
	h.client, _ = startClient(t, tools.Deps{
		Client: func(context.Context) (*nanogpt.Client, error) { return c, nil },
		Media:  media,
		Poll:   nanogpt.PollOptions{Interval: 2 * time.Millisecond},
		Owner: func(context.Context) string {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.owner
		},
	}, nil, nil, nil)
	return h
}

func (h *jobsHarness) as(owner string) {
	h.mu.Lock()
	h.owner = owner
	h.mu.Unlock()
}

func (h *jobsHarness) call(t *testing.T, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	var req mcp.CallToolRequest
	req.Params.Name, req.Params.Arguments = name, args
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := h.client.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func decodeStructured(t *testing.T, res *mcp.CallToolResult, into any) {
	t.Helper()
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
}

// A wait shorter than the job returns its id; getJob then returns what the
// call would have, for every kind of job; the job is submitted once.
func TestJobsOutliveTheirWait(t *testing.T) {
	wav := "data:audio/wav;base64," + base64.StdEncoding.EncodeToString(nanogpttest.Audio)
	for _, tc := range []struct {
		tool, submit string
		args         map[string]any
		want         string
	}{
		{"createVideo", "/api/generate-video", map[string]any{"model": "veo2-video", "prompt": "a cat", "output": "url"}, "Created a video with veo2-video"},
		{"createSpeech", "/api/v1/audio/speech", map[string]any{"model": "Elevenlabs-V3", "input": "hi", "output": "url"}, "Created speech with Elevenlabs-V3"},
		{"createTranscription", "/api/transcribe", map[string]any{"model": "Whisper-Large-V3", "file": map[string]any{"url": wav, "name": "a.wav"}}, "Hello from the async job."},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			h := newJobsHarness(t, tools.Media{})
			tc.args["wait"] = 0
			res := h.call(t, tc.tool, tc.args)
			var out struct {
				Job *tools.JobStatus `json:"job"`
			}
			decodeStructured(t, res, &out)
			if res.IsError || out.Job == nil || out.Job.Done || out.Job.Tool != tc.tool || !strings.Contains(text(res), out.Job.ID) {
				t.Fatalf("%s with wait 0: %s", tc.tool, text(res))
			}
			res = h.call(t, "getJob", map[string]any{"jobId": out.Job.ID, "wait": 5})
			var got tools.GetJobOutput
			decodeStructured(t, res, &got)
			if res.IsError || !got.Job.Done || len(got.Result) == 0 || !strings.Contains(text(res), tc.want) {
				t.Fatalf("getJob: %s", text(res))
			}
			n := 0
			for _, r := range h.fake.Requests() {
				if r.Path == tc.submit {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s was sent %d times, want once", tc.submit, n)
			}
		})
	}
}

// One caller cannot see, wait for or finish another caller's job.
func TestJobsBelongToTheirCaller(t *testing.T) {
	h := newJobsHarness(t, tools.Media{})
	h.as("alice")
	res := h.call(t, "createVideo", map[string]any{"model": "veo2-video", "prompt": "a cat", "wait": 0, "output": "url"})
	var out struct {
		Job *tools.JobStatus `json:"job"`
	}
	decodeStructured(t, res, &out)
	if out.Job == nil {
		t.Fatalf("no job: %s", text(res))
	}
	h.as("mallory")
	if res := h.call(t, "getJob", map[string]any{"jobId": out.Job.ID}); !res.IsError || !strings.Contains(text(res), "no job") {
		t.Fatalf("another caller's getJob: %s", text(res))
	}
	h.as("alice")
	if res := h.call(t, "getJob", map[string]any{"jobId": out.Job.ID, "wait": 5}); res.IsError {
		t.Fatalf("the owner's getJob: %s", text(res))
	}
}

// A failed video job is an error with NanoGPT's reason and what happens to the charge.
func TestVideoJobFails(t *testing.T) {
	h := newJobsHarness(t, tools.Media{})
	h.fake.Set(func(d *nanogpttest.Docs) { d.VideoFails = true })
	res := h.call(t, "createVideo", map[string]any{"model": "veo2-video", "prompt": "a cat", "output": "url"})
	if !res.IsError || errorCode(res) != tools.CodeContentPolicy || !strings.Contains(text(res), "Please modify your prompt") || !strings.Contains(text(res), "refunded") {
		t.Fatalf("%s: %s", errorCode(res), text(res))
	}
}
