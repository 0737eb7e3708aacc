package nanogpt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/capped"
)

// SpeechRequest is the body of POST /api/v1/audio/speech.
type SpeechRequest struct {
	Model          string   `json:"model"`
	Input          string   `json:"input"`
	Voice          string   `json:"voice,omitempty"`
	ResponseFormat string   `json:"response_format,omitempty"`
	Speed          *float64 `json:"speed,omitempty"`
}

// Speech is generated audio: the bytes, or NanoGPT's URL for them.
type Speech struct {
	Audio       []byte   // the audio bytes when NanoGPT sent them directly; nil when it gave a URL
	ContentType string   // e.g. audio/mpeg (from the response header, or JSON contentType)
	AudioURL    string   // NanoGPT's URL for the audio, when it gave one (JSON answer or completed job)
	RunID       string   // set when the answer was an async ticket that was polled
	Cost        *float64 // when reported (JSON answer or ticket)
	Currency    string   // when reported (paymentSource or currency)
	Duration    float64  // seconds, when reported
}

const (
	speechPath    = "/api/v1/audio/speech"
	ttsStatusPath = "/api/tts/status"
	// maxAudioBody caps audio bytes read from a speech answer.
	maxAudioBody = 64 << 20

	speechPollInterval = 3 * time.Second
	speechPollMaxWait  = 3 * time.Minute
)

// speechAnswer is any JSON answer of the speech and TTS status endpoints: an
// audioUrl answer, a pending ticket, or a job status.
type speechAnswer struct {
	Status        string          `json:"status"`
	RunID         string          `json:"runId"`
	Model         string          `json:"model"`
	AudioURL      string          `json:"audioUrl"`
	ContentType   string          `json:"contentType"`
	Cost          optFloat        `json:"cost"`
	Currency      string          `json:"currency"`
	PaymentSource string          `json:"paymentSource"`
	Duration      optFloat        `json:"duration"`
	Error         json.RawMessage `json:"error"`
	Code          json.RawMessage `json:"code"`
	Message       string          `json:"message"`
}

func (a *speechAnswer) currency() string {
	if a.PaymentSource != "" {
		return a.PaymentSource
	}
	return a.Currency
}

func (a *speechAnswer) answer() answer {
	return answer{status: a.Status, runID: a.RunID, result: a.AudioURL != "", errField: a.Error, code: rawCode(a.Code), message: a.Message}
}

// CreateSpeech turns text into audio with POST /api/v1/audio/speech. Depending on
// the model NanoGPT answers with audio bytes (audio/* or application/octet-stream,
// capped at 64 MiB), with JSON naming an audioUrl (returned as AudioURL, not
// downloaded: see Download), or with a paid pending ticket (HTTP 200 or 202). A
// ticket is polled at GET /api/tts/status until "completed"; "error" or "failed" is
// a *JobError (Code keeps e.g. CONTENT_POLICY_VIOLATION); a job still running
// after poll.MaxWait is a *PendingError, to wait for again with WaitSpeech. The
// POST is never resubmitted.
func (c *Client) CreateSpeech(ctx context.Context, req SpeechRequest, poll PollOptions) (_ *Speech, err error) {
	defer c.redact(&err)
	sp, ans, status, err := c.postSpeech(ctx, req)
	if err != nil || sp != nil {
		return sp, err
	}
	a := ans.answer()
	switch {
	case a.first() == answerFailed:
		return nil, a.failure(status)
	case a.first() == answerDone:
		return &Speech{AudioURL: ans.AudioURL, ContentType: ans.ContentType, RunID: ans.RunID,
			Cost: ans.Cost.ptr(), Currency: ans.currency(), Duration: ans.Duration.V}, nil
	case ans.RunID != "":
		return c.WaitSpeech(ctx, speechJob(req, ans), poll)
	}
	return nil, &APIError{Status: status, Code: CodeInvalidResponse,
		Message: fmt.Sprintf("NanoGPT answered %s with JSON that has neither audioUrl nor a runId (status %q)", speechPath, ans.Status)}
}

// postSpeech sends the speech request once, bounded by the client timeout. It
// returns either the finished Speech (audio bytes) or the JSON answer to act on.
func (c *Client) postSpeech(ctx context.Context, req SpeechRequest) (*Speech, *speechAnswer, int, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	body, err := json.Marshal(req)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("nanogpt: encode speech request: %w", err)
	}
	hreq, err := c.newRequest(ctx, http.MethodPost, speechPath, bytes.NewReader(body), "application/json")
	if err != nil {
		return nil, nil, 0, err
	}
	hreq.Header.Set("Accept", "audio/*, application/octet-stream, application/json")
	resp, err := c.send(hreq)
	if err != nil {
		return nil, nil, 0, err
	}
	defer resp.Body.Close()
	invalid := func(msg string) error {
		return &APIError{Status: resp.StatusCode, Code: CodeInvalidResponse, Message: msg, RequestID: resp.Header.Get("X-Request-ID")}
	}
	if resp.ContentLength > maxAudioBody {
		return nil, nil, 0, invalid(fmt.Sprintf("NanoGPT's speech answer is %d bytes, more than the %d-byte limit", resp.ContentLength, maxAudioBody))
	}
	data, err := capped.Read(resp.Body, resp.ContentLength, maxAudioBody)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, nil, 0, fmt.Errorf("nanogpt: read %s: %w", speechPath, ctxErr)
		}
		if errors.Is(err, capped.ErrTooLarge) {
			return nil, nil, 0, invalid(fmt.Sprintf("NanoGPT's speech answer is more than the %d-byte limit", maxAudioBody))
		}
		return nil, nil, 0, &TransportError{Op: "read " + speechPath, Err: err}
	}

	ctype := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ctype)
	mt = strings.ToLower(mt)
	if mt == "" { // no (or a garbled) Content-Type: sniff
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
			mt = "application/json"
		} else {
			ctype = http.DetectContentType(data)
			mt, _, _ = mime.ParseMediaType(ctype)
		}
	}
	switch {
	case strings.HasPrefix(mt, "audio/") || mt == "application/octet-stream" || mt == "application/ogg":
		if len(data) == 0 {
			return nil, nil, 0, invalid("NanoGPT answered " + speechPath + " with an empty audio body")
		}
		return &Speech{Audio: data, ContentType: ctype}, nil, 0, nil
	case mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json"):
		var ans speechAnswer
		if err := json.Unmarshal(data, &ans); err != nil {
			return nil, nil, 0, invalid(fmt.Sprintf("NanoGPT answered %s with a body that is not the expected JSON (%s): %s", speechPath, jsonProblem(err), snippet(data)))
		}
		return nil, &ans, resp.StatusCode, nil
	}
	return nil, nil, 0, invalid(fmt.Sprintf("NanoGPT answered %s with unexpected content type %q: %s", speechPath, ctype, snippet(data)))
}

// speechJob is the Job of a speech ticket: its status is asked for with GET
// /api/tts/status, echoing the ticket's cost and payment source (they drive
// NanoGPT's automatic refunds).
func speechJob(req SpeechRequest, ticket *speechAnswer) Job {
	model := cmp.Or(ticket.Model, req.Model)
	q := url.Values{}
	q.Set("runId", ticket.RunID)
	q.Set("model", model)
	if ticket.Cost.Set {
		q.Set("cost", ticket.Cost.String())
	}
	if ticket.PaymentSource != "" {
		q.Set("paymentSource", ticket.PaymentSource)
	}
	q.Set("isApiRequest", "true")
	return Job{Kind: JobSpeech, RunID: ticket.RunID, Model: model, Status: ticket.Status, Cost: ticket.Cost.ptr(), Currency: ticket.currency(),
		CheckPath: ttsStatusPath + "?" + q.Encode()}
}

// WaitSpeech polls a speech job (GET /api/tts/status) until it ends, or until
// poll.MaxWait (a *PendingError: wait again later).
func (c *Client) WaitSpeech(ctx context.Context, job Job, poll PollOptions) (_ *Speech, err error) {
	defer c.redact(&err)
	if job.Kind != JobSpeech {
		return nil, fmt.Errorf("nanogpt: WaitSpeech: a %s job", job.Kind)
	}
	var st speechAnswer
	err = pollJob(ctx, &job, poll, speechPollInterval, speechPollMaxWait, "audioUrl", func(ctx context.Context) (answer, error) {
		st = speechAnswer{}
		_, err := c.call(ctx, http.MethodGet, job.CheckPath, nil, "", &st)
		return st.answer(), err
	})
	if err != nil {
		return nil, err
	}
	out := &Speech{RunID: job.RunID, AudioURL: st.AudioURL, ContentType: st.ContentType, Cost: job.Cost, Currency: cmp.Or(st.currency(), job.Currency), Duration: st.Duration.V}
	if st.Cost.Set {
		out.Cost = st.Cost.ptr()
	}
	return out, nil
}
