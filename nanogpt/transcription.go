package nanogpt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// TranscriptionRequest is a speech-to-text job for POST /api/transcribe: either
// an AudioURL that NanoGPT fetches itself, or Audio bytes uploaded.
type TranscriptionRequest struct {
	Model       string
	Language    string // optional
	AudioURL    string // an https URL NanoGPT fetches itself (≤ 500 MB); or:
	Audio       []byte // bytes uploaded as multipart field "audio" (≤ 3 MB; the caller enforces the cap)
	FileName    string // file name for the upload
	ContentType string // MIME type for the upload part
}

// Transcription is the text of a transcription and what NanoGPT said about it.
type Transcription struct {
	Text        string
	Language    string
	Duration    float64 // minutes (metadata.actualDuration, else chargedDuration)
	Cost        *float64
	Currency    string
	Words       json.RawMessage // when returned
	Diarization json.RawMessage // when returned
	RunID       string          // when it was an async job
}

const (
	transcribePath       = "/api/transcribe"
	transcribeStatusPath = "/api/transcribe/status"

	sttPollInterval = 5 * time.Second
	sttPollMaxWait  = 5 * time.Minute
)

// sttMetadata is the metadata member of a transcription answer. Numbers may
// arrive as strings; unknown keys are ignored.
type sttMetadata struct {
	FileName        string          `json:"fileName"`
	FileSize        json.RawMessage `json:"fileSize"`
	ChargedDuration json.RawMessage `json:"chargedDuration"`
	ActualDuration  optFloat        `json:"actualDuration"`
	Language        string          `json:"language"`
	Cost            optFloat        `json:"cost"`
	Currency        string          `json:"currency"`
	Model           string          `json:"model"`
}

// sttAnswer is any answer of /api/transcribe and /api/transcribe/status: a
// finished transcription, a pending ticket, or a job status.
type sttAnswer struct {
	Status          string          `json:"status"`
	RunID           string          `json:"runId"`
	Transcription   *string         `json:"transcription"`
	Text            *string         `json:"text"` // the OpenAI-style name, accepted defensively
	Language        string          `json:"language"`
	Metadata        *sttMetadata    `json:"metadata"`
	Words           json.RawMessage `json:"words"`
	Diarization     json.RawMessage `json:"diarization"`
	Cost            json.RawMessage `json:"cost"`
	PaymentSource   string          `json:"paymentSource"`
	Currency        string          `json:"currency"`
	FileName        string          `json:"fileName"`
	FileSize        json.RawMessage `json:"fileSize"`
	ChargedDuration json.RawMessage `json:"chargedDuration"`
	Diarize         json.RawMessage `json:"diarize"`
	Error           json.RawMessage `json:"error"`
	Code            json.RawMessage `json:"code"`
	Message         string          `json:"message"`
}

// sttStatusRequest is the body of POST /api/transcribe/status. Values are echoed
// from the ticket as NanoGPT sent them (they drive automatic refunds); absent
// ones are not sent.
type sttStatusRequest struct {
	RunID           string          `json:"runId"`
	Cost            json.RawMessage `json:"cost,omitempty"`
	PaymentSource   string          `json:"paymentSource,omitempty"`
	IsAPIRequest    bool            `json:"isApiRequest"`
	FileName        string          `json:"fileName,omitempty"`
	FileSize        json.RawMessage `json:"fileSize,omitempty"`
	ChargedDuration json.RawMessage `json:"chargedDuration,omitempty"`
	Diarize         json.RawMessage `json:"diarize,omitempty"`
}

// Transcribe turns speech into text with POST /api/transcribe: Audio is uploaded
// as multipart/form-data (field "audio", plus "model" and "language"), an AudioURL
// is sent as JSON {"audioUrl","model","language"}. A synchronous answer is
// returned as is. An async ticket (HTTP 202, or 200 with a pending status and a
// runId) is polled with POST /api/transcribe/status until "completed"; "failed"
// or "error" is a *JobError; a job still running after poll.MaxWait is a
// *PendingError, to wait for again with WaitTranscription. The upload is never
// resubmitted.
func (c *Client) Transcribe(ctx context.Context, req TranscriptionRequest, poll PollOptions) (_ *Transcription, err error) {
	defer c.redact(&err)
	var (
		body  [][]byte
		ctype string
	)
	switch {
	case len(req.Audio) > 0 && req.AudioURL != "":
		return nil, errors.New("nanogpt: transcribe: give either Audio or AudioURL, not both")
	case len(req.Audio) > 0:
		body, ctype, err = sttMultipart(req)
	case req.AudioURL != "":
		ctype = "application/json"
		var b []byte
		b, err = json.Marshal(struct {
			AudioURL string `json:"audioUrl"`
			Model    string `json:"model,omitempty"`
			Language string `json:"language,omitempty"`
		}{req.AudioURL, req.Model, req.Language})
		body = [][]byte{b}
	default:
		return nil, errors.New("nanogpt: transcribe: no audio: give Audio bytes or an AudioURL")
	}
	if err != nil {
		return nil, fmt.Errorf("nanogpt: encode transcription request: %w", err)
	}

	var ans sttAnswer
	status, err := c.call(ctx, http.MethodPost, transcribePath, body, ctype, &ans)
	if err != nil {
		return nil, err
	}
	a := ans.answer()
	switch {
	case a.first() == answerFailed:
		return nil, a.failure(status)
	case a.first() == answerDone:
		return ans.result(nil), nil
	case ans.RunID != "":
		job, err := transcriptionJob(req, &ans)
		if err != nil {
			return nil, err
		}
		return c.WaitTranscription(ctx, job, poll)
	}
	return nil, &APIError{Status: status, Code: CodeInvalidResponse,
		Message: fmt.Sprintf("NanoGPT answered %s (HTTP %d, status %q) with neither a transcription nor a runId", transcribePath, status, ans.Status)}
}

// sttMultipart builds the multipart/form-data upload: the fields and the
// audio part's header, the audio itself (not copied), and the closing boundary.
func sttMultipart(req TranscriptionRequest) ([][]byte, string, error) {
	var head bytes.Buffer
	w := multipart.NewWriter(&head)
	if req.Model != "" {
		if err := w.WriteField("model", req.Model); err != nil {
			return nil, "", err
		}
	}
	if req.Language != "" {
		if err := w.WriteField("language", req.Language); err != nil {
			return nil, "", err
		}
	}
	ctype := req.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	name := req.FileName
	if name == "" {
		name = "audio" + sttExtension(ctype)
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", multipart.FileContentDisposition("audio", name))
	h.Set("Content-Type", ctype)
	if _, err := w.CreatePart(h); err != nil {
		return nil, "", err
	}
	var tail bytes.Buffer
	tw := multipart.NewWriter(&tail)
	if err := tw.SetBoundary(w.Boundary()); err != nil {
		return nil, "", err
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	// The closing boundary starts on a line of its own after the part's data.
	return [][]byte{head.Bytes(), req.Audio, tail.Bytes()}, w.FormDataContentType(), nil
}

// sttExtension guesses a file extension for an upload without a name.
func sttExtension(ctype string) string {
	mt, _, _ := mime.ParseMediaType(ctype)
	switch strings.ToLower(mt) {
	case "audio/mpeg", "audio/mp3":
		return ".mp3"
	case "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave":
		return ".wav"
	case "audio/ogg", "application/ogg":
		return ".ogg"
	case "audio/mp4", "audio/x-m4a", "audio/m4a":
		return ".m4a"
	case "audio/aac", "audio/x-aac":
		return ".aac"
	case "audio/flac", "audio/x-flac":
		return ".flac"
	case "audio/webm", "video/webm":
		return ".webm"
	case "video/mp4":
		return ".mp4"
	}
	return ""
}

func (a *sttAnswer) answer() answer {
	return answer{status: a.Status, runID: a.RunID, result: a.text() != nil, errField: a.Error, code: rawCode(a.Code), message: a.Message}
}

// text is the transcription under either name (nil when absent).
func (a *sttAnswer) text() *string {
	if a.Transcription != nil {
		return a.Transcription
	}
	return a.Text
}

// result builds the Transcription of a finished answer; ticket (may be nil) fills
// in cost and currency that the final answer leaves out.
func (a *sttAnswer) result(ticket *sttAnswer) *Transcription {
	out := &Transcription{Language: a.Language, RunID: a.RunID, Words: rawOrNil(a.Words), Diarization: rawOrNil(a.Diarization)}
	if t := a.text(); t != nil {
		out.Text = *t
	}
	var cost optFloat
	_ = cost.UnmarshalJSON(orNull(a.Cost))
	out.Currency = a.Currency
	if out.Currency == "" {
		out.Currency = a.PaymentSource
	}
	if m := a.Metadata; m != nil {
		if m.Language != "" {
			out.Language = m.Language
		}
		if m.Cost.Set {
			cost = m.Cost
		}
		if m.Currency != "" {
			out.Currency = m.Currency
		}
		var charged optFloat
		_ = charged.UnmarshalJSON(orNull(m.ChargedDuration))
		if m.ActualDuration.Set {
			out.Duration = m.ActualDuration.V
		} else {
			out.Duration = charged.V
		}
	}
	if ticket != nil {
		if out.RunID == "" {
			out.RunID = ticket.RunID
		}
		if !cost.Set {
			_ = cost.UnmarshalJSON(orNull(ticket.Cost))
		}
		if out.Currency == "" {
			out.Currency = ticket.Currency
		}
		if out.Currency == "" {
			out.Currency = ticket.PaymentSource
		}
	}
	out.Cost = cost.ptr()
	return out
}

// transcriptionJob is the Job of a transcription ticket: its status is asked
// for with POST /api/transcribe/status, echoing what the ticket said (the
// values drive NanoGPT's automatic refunds).
func transcriptionJob(req TranscriptionRequest, ticket *sttAnswer) (Job, error) {
	sr := sttStatusRequest{
		RunID:           ticket.RunID,
		Cost:            rawOrNil(ticket.Cost),
		PaymentSource:   ticket.PaymentSource,
		IsAPIRequest:    true,
		FileName:        ticket.FileName,
		FileSize:        rawOrNil(ticket.FileSize),
		ChargedDuration: rawOrNil(ticket.ChargedDuration),
		Diarize:         rawOrNil(ticket.Diarize),
	}
	if m := ticket.Metadata; m != nil {
		if sr.FileName == "" {
			sr.FileName = m.FileName
		}
		if sr.FileSize == nil {
			sr.FileSize = rawOrNil(m.FileSize)
		}
		if sr.ChargedDuration == nil {
			sr.ChargedDuration = rawOrNil(m.ChargedDuration)
		}
	}
	if len(req.Audio) > 0 { // what we uploaded, when the ticket does not echo it
		if sr.FileName == "" {
			sr.FileName = req.FileName
		}
		if sr.FileSize == nil {
			sr.FileSize = json.RawMessage(strconv.Itoa(len(req.Audio)))
		}
	}
	body, err := json.Marshal(sr)
	if err != nil {
		return Job{}, fmt.Errorf("nanogpt: encode transcription status request: %w", err)
	}
	var cost optFloat
	_ = cost.UnmarshalJSON(orNull(ticket.Cost))
	return Job{Kind: JobTranscription, RunID: ticket.RunID, Model: req.Model, Status: ticket.Status, Cost: cost.ptr(),
		Currency: cmp.Or(ticket.Currency, ticket.PaymentSource), CheckPath: transcribeStatusPath, CheckBody: body}, nil
}

// WaitTranscription polls a transcription job (POST /api/transcribe/status)
// until it ends, or until poll.MaxWait (a *PendingError: wait again later).
func (c *Client) WaitTranscription(ctx context.Context, job Job, poll PollOptions) (_ *Transcription, err error) {
	defer c.redact(&err)
	if job.Kind != JobTranscription {
		return nil, fmt.Errorf("nanogpt: WaitTranscription: a %s job", job.Kind)
	}
	var st sttAnswer
	err = pollJob(ctx, &job, poll, sttPollInterval, sttPollMaxWait, "transcription", func(ctx context.Context) (answer, error) {
		st = sttAnswer{}
		_, err := c.call(ctx, http.MethodPost, job.CheckPath, [][]byte{job.CheckBody}, "application/json", &st)
		return st.answer(), err
	})
	if err != nil {
		return nil, err
	}
	ticket := &sttAnswer{RunID: job.RunID, Currency: job.Currency}
	if job.Cost != nil {
		ticket.Cost, _ = json.Marshal(*job.Cost)
	}
	return st.result(ticket), nil
}
