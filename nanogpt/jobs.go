package nanogpt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// PollOptions bounds the polling of an async NanoGPT job (a paid ticket with a runId).
// OnPoll receives NanoGPT's status after each poll ("pending", "processing",
// "completed", "error", …), or "retrying" after a transient failure of the poll itself.
type PollOptions struct {
	Interval time.Duration // between polls; 0 → NanoGPT's advice for the kind (3 s speech, 5 s transcription and video)
	// MaxWait bounds this wait: a job still running then is a *PendingError,
	// and may be waited for again. 0 → until the context's deadline when it
	// has one, else 3 minutes for speech, 5 for transcription, 10 for video.
	MaxWait time.Duration
	OnPoll  func(status string, attempt int) // called after each poll (for progress notifications); may be nil
}

// Kinds of Job.
const (
	JobSpeech        = "speech"
	JobTranscription = "transcription"
	JobVideo         = "video"
)

// Job is an asynchronous NanoGPT job that NanoGPT accepted (and charged for):
// what it takes to check on it again. It is plain data (it encodes as JSON),
// so a server may keep it and wait for the job again in a later call, with
// WaitSpeech, WaitTranscription or WaitVideo by its Kind.
type Job struct {
	Kind   string `json:"kind"`
	RunID  string `json:"runId"`
	Model  string `json:"model,omitempty"`
	Status string `json:"status,omitempty"` // the last status NanoGPT reported
	// Cost is what NanoGPT charged when it accepted the job, when it said.
	Cost     *float64 `json:"cost,omitempty"`
	Currency string   `json:"currency,omitempty"`
	// CheckPath (with its query) and, for a POST, CheckBody are the request
	// that asks NanoGPT for the job's status.
	CheckPath string          `json:"checkPath"`
	CheckBody json.RawMessage `json:"checkBody,omitempty"`
}

// PendingError ends a wait that ran out (PollOptions.MaxWait) while the job
// was still running. The job goes on at NanoGPT and is not resubmitted: wait
// for it again with Job.
type PendingError struct {
	Job    Job
	Waited time.Duration
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("nanogpt: %s job %s still %q after %s of waiting; it was accepted and goes on, so wait for it again rather than resubmit it",
		e.Job.Kind, e.Job.RunID, e.Job.Status, e.Waited.Round(time.Millisecond))
}

// JobError is a job NanoGPT accepted (and usually charged for) that failed.
// The job is never resubmitted by the client; RunID identifies it for support.
type JobError struct {
	RunID   string
	Status  string // NanoGPT's final status ("error", "failed", …)
	Code    string // NanoGPT's code when given, e.g. "CONTENT_POLICY_VIOLATION"
	Message string
}

func (e *JobError) Error() string {
	var b strings.Builder
	b.WriteString("nanogpt: job")
	if e.RunID != "" {
		b.WriteString(" " + e.RunID)
	}
	b.WriteString(" failed")
	if e.Status != "" {
		fmt.Fprintf(&b, " (status %q)", e.Status)
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
// is not resubmitted, and Job waits for it again. Err is the context's error
// (errors.Is works through it).
type JobWaitError struct {
	RunID  string
	Status string // the last status seen
	Job    Job
	Err    error
}

func (e *JobWaitError) Error() string {
	return fmt.Sprintf("nanogpt: stopped waiting for job %s (last status %q; it was accepted and may still finish, so do not resubmit it): %v", e.RunID, e.Status, e.Err)
}

func (e *JobWaitError) Unwrap() error { return e.Err }

// maxTransientPolls is how many consecutive status polls may fail transiently
// (network, 408, 429, 5xx, a garbled body) before the polling gives up.
const maxTransientPolls = 3

// pollCheckTimeout bounds one status poll, so that a hung request costs one
// tick rather than the whole wait.
const pollCheckTimeout = time.Minute

// pollJob calls check every opts.Interval until it reports done or fails, bounded
// by opts.MaxWait and ctx. It only ever calls check: the job is never resubmitted.
// Each check runs with the polling context, bounded by pollCheckTimeout (and by
// the client timeout inside check). A transient check failure is retried on the
// next tick, up to maxTransientPolls in a row; the client's own retries are off
// for checks. The end of MaxWait is a *PendingError; the end of ctx is a
// *JobWaitError wrapping ctx's error. job.Status follows NanoGPT's answers.
//
// check returns what NanoGPT answered; pollJob classifies it (answer.polled):
// a failure ends the polling with its error, a completion without its result
// (what, e.g. "audioUrl") with an invalid_response one.
func pollJob(ctx context.Context, job *Job, opts PollOptions, defInterval, defMaxWait time.Duration, what string, check func(ctx context.Context) (answer, error)) error {
	runID := job.RunID
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

	job.Status = cmp.Or(job.Status, "pending")
	stopped := func() error {
		if err := ctx.Err(); err != nil {
			return &JobWaitError{RunID: runID, Status: job.Status, Job: *job, Err: err}
		}
		return &PendingError{Job: *job, Waited: maxWait}
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
		a, err := check(checkCtx)
		cancelCheck()
		a.runID = runID
		kind := answerPending
		if err == nil {
			switch kind = a.polled(); {
			case kind == answerFailed:
				a.status = cmp.Or(a.status, "error")
				err = a.failure(0)
			case kind == answerDone && !a.result:
				err = a.incomplete(runID, what)
			}
		}
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
			if a.status != "" && opts.OnPoll != nil {
				opts.OnPoll(a.status, attempt)
			}
			return err
		}
		transient = 0
		if a.status != "" {
			job.Status = a.status
		}
		if opts.OnPoll != nil {
			opts.OnPoll(a.status, attempt)
		}
		if kind == answerDone {
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
	case "completed", "complete", "succeeded", "success", "done": // video: COMPLETED
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
	case "pending", "processing", "queued", "in_progress", "in_queue", "running", "starting", "started", "submitted":
		return true
	}
	return false
}

// answer is what an answer of a job endpoint (speech, transcription) says, as
// far as telling a result, a ticket to poll and a failure apart goes. Both
// endpoints classify their answers with it.
type answer struct {
	status   string // NanoGPT's status, as sent ("" when none)
	runID    string
	result   bool            // the answer carries the result (an audio URL, a transcript)
	errField json.RawMessage // the "error" member
	code     string
	message  string
}

// What an answer says.
const (
	answerPending = iota // still running: a ticket to poll
	answerDone
	answerFailed
)

// failed reports a failure status, or an error without any status or result.
func (a answer) failed() bool {
	return jobFailed(a.status) || a.status == "" && hasValue(a.errField) && !a.result
}

// first classifies the first answer of a request that may start a job.
func (a answer) first() int {
	switch {
	case a.failed():
		return answerFailed
	case a.result && !jobPending(a.status):
		return answerDone
	}
	return answerPending
}

// polled classifies the answer of a status poll: done once NanoGPT says so
// (the caller checks that the result came with it), or when the result
// comes without a status.
func (a answer) polled() int {
	switch {
	case a.failed():
		return answerFailed
	case jobDone(a.status) || a.status == "" && a.result:
		return answerDone
	}
	return answerPending
}

// failure is the error of a failed answer: a *JobError for a job NanoGPT
// accepted (it has a runId), else an *APIError of the request's answer.
func (a answer) failure(httpStatus int) error {
	je := jobFailure(a.runID, cmp.Or(a.status, "error"), a.errField, a.code, a.message)
	if a.runID == "" {
		return &APIError{Status: httpStatus, Code: je.Code, Message: je.Message}
	}
	return je
}

// incomplete is the error of a job NanoGPT reports done without its result.
func (a answer) incomplete(runID, what string) error {
	return &JobError{RunID: runID, Status: a.status, Code: CodeInvalidResponse,
		Message: "NanoGPT reported the job completed but gave no " + what}
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
