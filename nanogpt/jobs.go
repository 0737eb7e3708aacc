package nanogpt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PollOptions bounds the polling of an async NanoGPT job (a paid ticket with a runId).
// OnPoll receives NanoGPT's status after each poll ("pending", "processing",
// "completed", "error", …), or "retrying" after a transient failure of the poll itself.
type PollOptions struct {
	Interval time.Duration // between polls; 0 → 3s for speech, 5s for transcription
	// MaxWait bounds the polling. 0 → until the context's deadline when it has
	// one, else 3 minutes for speech and 5 minutes for transcription.
	MaxWait time.Duration
	OnPoll  func(status string, attempt int) // called after each poll (for progress notifications); may be nil
}

// JobError is a job NanoGPT accepted (and usually charged for) that failed, or
// that did not finish within PollOptions.MaxWait (Status "timeout"). The job is
// never resubmitted by the client; RunID identifies it for support or a later check.
type JobError struct {
	RunID   string
	Status  string // NanoGPT's final status ("error", "failed", …) or "timeout"
	Code    string // NanoGPT's code when given, e.g. "CONTENT_POLICY_VIOLATION"
	Message string
}

func (e *JobError) Error() string {
	var b strings.Builder
	b.WriteString("nanogpt: job")
	if e.RunID != "" {
		b.WriteString(" " + e.RunID)
	}
	if e.Status == "timeout" {
		b.WriteString(" did not finish in time")
	} else {
		b.WriteString(" failed")
		if e.Status != "" {
			fmt.Fprintf(&b, " (status %q)", e.Status)
		}
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " [%s]", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// JobWaitError ends the wait for a job NanoGPT accepted because the caller's
// context ended (its deadline or a cancellation). The job may still finish; it
// is not resubmitted. Err is the context's error (errors.Is works through it).
type JobWaitError struct {
	RunID  string
	Status string // the last status seen
	Err    error
}

func (e *JobWaitError) Error() string {
	return fmt.Sprintf("nanogpt: stopped waiting for job %s (last status %q; it was accepted and may still finish, so do not resubmit it): %v", e.RunID, e.Status, e.Err)
}

func (e *JobWaitError) Unwrap() error { return e.Err }

// maxTransientPolls is how many consecutive status polls may fail transiently
// (network, 408, 429, 5xx, a garbled body) before the polling gives up.
const maxTransientPolls = 3

// pollResult is what one status poll found out.
type pollResult struct {
	status string // NanoGPT's status, for OnPoll and timeout messages
	done   bool   // the job finished successfully; stop polling
}

// pollCheckTimeout bounds one status poll, so that a hung request costs one
// tick rather than the whole wait.
const pollCheckTimeout = time.Minute

// pollJob calls check every opts.Interval until it reports done or fails, bounded
// by opts.MaxWait and ctx. It only ever calls check: the job is never resubmitted.
// Each check runs with the polling context, bounded by pollCheckTimeout (and by
// the client timeout inside check). A transient check failure is retried on the
// next tick, up to maxTransientPolls in a row; the client's own retries are off
// for checks. The end of MaxWait is a *JobError with Status "timeout"; the end of
// ctx is a *JobWaitError wrapping ctx's error.
func pollJob(ctx context.Context, runID string, opts PollOptions, defInterval, defMaxWait time.Duration, check func(ctx context.Context) (pollResult, error)) error {
	interval, maxWait := opts.Interval, opts.MaxWait
	if interval <= 0 {
		interval = defInterval
	}
	base := context.WithValue(ctx, noRetryKey{}, true)
	var (
		waitCtx context.Context
		cancel  context.CancelFunc
	)
	if dl, ok := ctx.Deadline(); maxWait <= 0 && ok {
		maxWait = max(time.Until(dl), 0) // the context's deadline is the bound
		waitCtx, cancel = context.WithCancel(base)
	} else {
		if maxWait <= 0 {
			maxWait = defMaxWait
		}
		waitCtx, cancel = context.WithTimeout(base, maxWait)
	}
	defer cancel()

	last := "pending"
	timedOut := func() error {
		return &JobError{RunID: runID, Status: "timeout",
			Message: fmt.Sprintf("still %q after %s of polling; the job was accepted and may still finish, so do not resubmit it", last, maxWait.Round(time.Millisecond))}
	}
	stopped := func() error {
		if err := ctx.Err(); err != nil {
			return &JobWaitError{RunID: runID, Status: last, Err: err}
		}
		return timedOut()
	}

	timer := time.NewTimer(interval)
	defer timer.Stop()
	transient := 0
	for attempt := 1; ; attempt++ {
		select {
		case <-waitCtx.Done():
			return stopped()
		case <-timer.C:
		}
		checkCtx, cancelCheck := context.WithTimeout(waitCtx, max(pollCheckTimeout, interval))
		res, err := check(checkCtx)
		cancelCheck()
		if err != nil {
			if waitCtx.Err() != nil {
				return stopped()
			}
			if transient < maxTransientPolls && isTransient(err) {
				transient++
				if opts.OnPoll != nil {
					opts.OnPoll("retrying", attempt)
				}
				timer.Reset(interval)
				continue
			}
			if res.status != "" && opts.OnPoll != nil {
				opts.OnPoll(res.status, attempt)
			}
			return err
		}
		transient = 0
		if res.status != "" {
			last = res.status
		}
		if opts.OnPoll != nil {
			opts.OnPoll(res.status, attempt)
		}
		if res.done {
			return nil
		}
		timer.Reset(interval)
	}
}

// isTransient reports whether a failed status poll is worth another try: a network
// failure, a per-request timeout, 408, 429, a 5xx, or a body that was not JSON.
func isTransient(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusRequestTimeout || ae.Status == http.StatusTooManyRequests ||
			ae.Code == CodeInvalidResponse
	}
	// The client timeout expired on this one request (the polling context is still live).
	return errors.Is(err, context.DeadlineExceeded)
}

// Job statuses. NanoGPT documents pending/processing/completed and error (TTS) or
// failed (STT); the others are accepted defensively. Unknown statuses keep polling,
// bounded by MaxWait.
func jobDone(status string) bool {
	switch strings.ToLower(status) {
	case "completed", "complete", "succeeded", "success", "done":
		return true
	}
	return false
}

func jobFailed(status string) bool {
	switch strings.ToLower(status) {
	case "error", "failed", "failure", "cancelled", "canceled", "expired", "rejected":
		return true
	}
	return false
}

func jobPending(status string) bool {
	switch strings.ToLower(status) {
	case "pending", "processing", "queued", "in_progress", "running", "starting", "started", "submitted":
		return true
	}
	return false
}

// jobFailure builds the JobError of a failed status answer. errField is the answer's
// "error" member (a string or an object), code and message its top-level ones.
func jobFailure(runID, status string, errField json.RawMessage, code, message string) *JobError {
	e := &JobError{RunID: runID, Status: status, Code: code, Message: message}
	if len(errField) > 0 && !bytes.Equal(errField, []byte("null")) {
		var s string
		var obj struct {
			Message string          `json:"message"`
			Code    json.RawMessage `json:"code"`
		}
		switch {
		case json.Unmarshal(errField, &s) == nil:
			if e.Message == "" {
				e.Message = s
			} else if s != e.Message {
				e.Message = s + ": " + e.Message
			}
		case errField[0] == '{' && json.Unmarshal(errField, &obj) == nil:
			if e.Message == "" {
				e.Message = obj.Message
			}
			if e.Code == "" {
				e.Code = rawCode(obj.Code)
			}
		}
	}
	if e.Message == "" {
		e.Message = "NanoGPT reported the job as " + strconv.Quote(status)
	}
	return e
}

// call sends one request to path, bounded by the client timeout, and decodes a 2xx
// JSON answer into out. It returns the HTTP status of the answer. The body is
// the concatenation of its parts, sent without joining them (an upload is not
// copied into the body), and sent again from them on a retry.
func (c *Client) call(ctx context.Context, method, path string, body [][]byte, contentType string, out any) (int, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var rd io.Reader
	size := 0
	if body != nil {
		rd = partsReader(body)
		for _, p := range body {
			size += len(p)
		}
	}
	req, err := c.newRequest(ctx, method, path, rd, contentType)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.ContentLength = int64(size)
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(partsReader(body)), nil }
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.send(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, decodeJSON(resp, path, out)
}

func partsReader(parts [][]byte) io.Reader {
	rs := make([]io.Reader, len(parts))
	for i, p := range parts {
		rs[i] = bytes.NewReader(p)
	}
	return io.MultiReader(rs...)
}

// optFloat is a JSON number that NanoGPT may also send as a string (or null).
// Anything else leaves it unset rather than failing the decode.
type optFloat struct {
	V   float64
	Set bool
}

func (f *optFloat) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" || s == `""` {
		*f = optFloat{}
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(uq)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		*f = optFloat{} // an odd value in metadata must not sink a paid answer
		return nil
	}
	*f = optFloat{V: v, Set: true}
	return nil
}

// ptr returns the value as a *float64, nil when absent.
func (f optFloat) ptr() *float64 {
	if !f.Set {
		return nil
	}
	v := f.V
	return &v
}

// String formats the value for a query or form (empty when absent).
func (f optFloat) String() string {
	if !f.Set {
		return ""
	}
	return strconv.FormatFloat(f.V, 'f', -1, 64)
}

// maxDownload is Download's cap when the caller gives none.
const maxDownload = 64 << 20

// Download fetches rawURL (NanoGPT's storage URL for a generated file) WITHOUT any auth
// header, up to limit bytes (limit <= 0 means 64 MiB); a larger body is an error. It
// returns the body and its Content-Type. A non-2xx answer is an *APIError. The
// request is bounded by the client timeout.
//
// Download does not filter destinations: callers fetching URLs that did not come
// from NanoGPT must vet them first.
func (c *Client) Download(ctx context.Context, rawURL string, limit int64) ([]byte, string, error) {
	if limit <= 0 {
		limit = maxDownload
	}
	where := redactURL(rawURL)
	if !strings.HasPrefix(strings.ToLower(rawURL), "https://") && !strings.HasPrefix(strings.ToLower(rawURL), "http://") {
		return nil, "", fmt.Errorf("nanogpt: download %s: not an http(s) URL", where)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("nanogpt: download %s: %w", where, err)
	}
	req.Header.Set("User-Agent", c.userAgent) // and deliberately no Authorization / x-api-key
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, "", fmt.Errorf("nanogpt: download %s: %w", where, ctxErr)
		}
		return nil, "", &TransportError{Op: "download " + where, Err: scrubURLError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		e := parseAPIError(resp.StatusCode, resp.Header, body)
		e.Message = "download " + where + ": " + e.Message
		return nil, "", e
	}
	if resp.ContentLength > limit {
		return nil, "", fmt.Errorf("nanogpt: download %s: %d bytes is more than the %d-byte limit", where, resp.ContentLength, limit)
	}
	data, err := readCapped(resp.Body, limit)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, "", fmt.Errorf("nanogpt: download %s: %w", where, ctxErr)
		}
		if errors.Is(err, errTooLarge) {
			return nil, "", fmt.Errorf("nanogpt: download %s: more than the %d-byte limit", where, limit)
		}
		return nil, "", &TransportError{Op: "read download " + where, Err: err}
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// errTooLarge reports a body over its cap.
var errTooLarge = errors.New("body too large")

// readCapped reads all of r, failing with errTooLarge beyond limit bytes.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

// redactURL drops the query and fragment (signed storage URLs carry tokens there)
// and any user info, for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = nil, "", "", "", false
	return u.String()
}

// scrubURLError removes the full URL that *url.Error embeds.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
