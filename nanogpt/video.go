package nanogpt

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// VideoRequest is the body of POST /api/generate-video. Only Model is
// required; which other fields a model takes is model-specific ("unknown
// keys are ignored, but some models fail when extra media fields are
// present"), so unset fields are not sent.
type VideoRequest struct {
	Model          string `json:"model"`
	Prompt         string `json:"prompt,omitempty"`
	Duration       string `json:"duration,omitempty"` // seconds, as a string ("5"); the OAS allows string or integer
	AspectRatio    string `json:"aspect_ratio,omitempty"`
	Resolution     string `json:"resolution,omitempty"`
	NegativePrompt string `json:"negative_prompt,omitempty"`
	Seed           *int64 `json:"seed,omitempty"`
	GenerateAudio  *bool  `json:"generateAudio,omitempty"`
	// An input image (image-to-video): a data: URL of at most 4 MB, or a
	// public https URL that NanoGPT fetches.
	ImageDataURL string `json:"imageDataUrl,omitempty"`
	ImageURL     string `json:"imageUrl,omitempty"`
}

// Video is a finished video job.
type Video struct {
	URL   string // NanoGPT's URL for the video (its lifetime is not documented: download it soon)
	RunID string
	Model string
	// Charged is what NanoGPT pre-charged when it accepted the job; Cost is
	// the final cost it reported on completion (nil when it did not).
	Charged  *float64
	Cost     *float64
	Currency string
}

const (
	videoPath       = "/api/generate-video"
	videoStatusPath = "/api/video/status"

	videoPollInterval = 5 * time.Second  // every example polls every 5 s,
	videoPollMaxWait  = 10 * time.Minute // at most 120 times
)

// videoTicket is the answer of POST /api/generate-video (202).
type videoTicket struct {
	RunID         string   `json:"runId"`
	ID            string   `json:"id"`
	Status        string   `json:"status"`
	Model         string   `json:"model"`
	Cost          optFloat `json:"cost"`
	PaymentSource string   `json:"paymentSource"`
}

// videoStatus is an answer of GET /api/video/status in either documented
// shape: nested under data with upper-case statuses (the guide), or flat with
// lower-case ones and videoUrl (the OAS, skills.md).
type videoStatus struct {
	Status   string          `json:"status"`
	VideoURL string          `json:"videoUrl"`
	Error    json.RawMessage `json:"error"`
	Data     *struct {
		Status string `json:"status"`
		Output struct {
			Video struct {
				URL string `json:"url"`
			} `json:"video"`
		} `json:"output"`
		Cost              optFloat        `json:"cost"`
		Error             json.RawMessage `json:"error"`
		IsNSFWError       *bool           `json:"isNSFWError"`
		UserFriendlyError *string         `json:"userFriendlyError"`
	} `json:"data"`
}

func (v *videoStatus) url() string {
	if v.Data != nil && v.Data.Output.Video.URL != "" {
		return v.Data.Output.Video.URL
	}
	return v.VideoURL
}

func (v *videoStatus) answer() answer {
	a := answer{status: v.Status, result: v.url() != "", errField: v.Error}
	if d := v.Data; d != nil {
		a.status = cmp.Or(d.Status, a.status)
		if hasValue(d.Error) {
			a.errField = d.Error
		}
		if d.UserFriendlyError != nil {
			a.message = *d.UserFriendlyError // what NanoGPT means people to read
		}
		if d.IsNSFWError != nil && *d.IsNSFWError {
			a.code = "CONTENT_POLICY_VIOLATION"
		}
	}
	return a
}

// SubmitVideo starts a video job with POST /api/generate-video. NanoGPT
// answers 202 with a runId and pre-charges the job; wait for it with
// WaitVideo. A refused submission is an *APIError (with Refund when NanoGPT
// says one was made).
func (c *Client) SubmitVideo(ctx context.Context, req VideoRequest) (_ Job, err error) {
	defer c.redact(&err)
	body, err := json.Marshal(req)
	if err != nil {
		return Job{}, fmt.Errorf("nanogpt: encode video request: %w", err)
	}
	var t videoTicket
	status, err := c.call(ctx, http.MethodPost, videoPath, [][]byte{body}, "application/json", &t)
	if err != nil {
		return Job{}, err
	}
	id := cmp.Or(t.RunID, t.ID)
	if id == "" {
		return Job{}, &APIError{Status: status, Code: CodeInvalidResponse,
			Message: fmt.Sprintf("NanoGPT answered %s (HTTP %d, status %q) without a runId", videoPath, status, t.Status)}
	}
	return Job{Kind: JobVideo, RunID: id, Model: cmp.Or(t.Model, req.Model), Status: t.Status, Cost: t.Cost.ptr(), Currency: t.PaymentSource,
		CheckPath: videoStatusPath + "?requestId=" + url.QueryEscape(id)}, nil
}

// WaitVideo polls a video job (GET /api/video/status) until it ends, or until
// poll.MaxWait (a *PendingError: wait again later). A failed or cancelled job
// is a *JobError with NanoGPT's user-facing reason; so is a job NanoGPT does
// not know (404) or says is not the caller's (403).
func (c *Client) WaitVideo(ctx context.Context, job Job, poll PollOptions) (_ *Video, err error) {
	defer c.redact(&err)
	if job.Kind != JobVideo {
		return nil, fmt.Errorf("nanogpt: WaitVideo: a %s job", job.Kind)
	}
	var st videoStatus
	err = pollJob(ctx, &job, poll, videoPollInterval, videoPollMaxWait, "video URL", func(ctx context.Context) (answer, error) {
		st = videoStatus{}
		_, err := c.call(ctx, http.MethodGet, job.CheckPath, nil, "", &st)
		var ae *APIError
		if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusForbidden) {
			what := map[int]string{http.StatusNotFound: "does not know the job", http.StatusForbidden: "says the job belongs to another account"}[ae.Status]
			return answer{}, &JobError{RunID: job.RunID, Status: http.StatusText(ae.Status), Message: fmt.Sprintf("NanoGPT %s (HTTP %d): %s", what, ae.Status, ae.Message)}
		}
		return st.answer(), err
	})
	if err != nil {
		return nil, err
	}
	v := &Video{URL: st.url(), RunID: job.RunID, Model: job.Model, Charged: job.Cost, Currency: job.Currency}
	if st.Data != nil {
		v.Cost = st.Data.Cost.ptr()
	}
	return v, nil
}
