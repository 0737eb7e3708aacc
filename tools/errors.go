package tools

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
)

// Stable error codes, carried in every error result's _meta.errorCode.
const (
	CodeInvalidArgument     = "invalid_argument"
	CodeUnauthorized        = "unauthorized"
	CodeInsufficientBalance = "insufficient_balance"
	CodeRateLimited         = "rate_limited"
	CodeContentPolicy       = "content_policy"
	CodeModelNotFound       = "model_not_found"
	CodeUpstreamTimeout     = "upstream_timeout"
	CodeUpstreamError       = "upstream_error"
	CodeJobFailed           = "job_failed"
	CodeCancelled           = "cancelled"
	CodeInvalidJSON         = "invalid_json_reply"
	CodeInvalidResponse     = nanogpt.CodeInvalidResponse // NanoGPT's answer is not what its API documents
	CodeInternal            = "internal"
)

// Failure is a tool error: a stable code, a message, and the next step to take.
type Failure struct {
	Code       string
	Message    string
	Next       string
	Status     int           // NanoGPT's HTTP status, when there is one
	RetryAfter time.Duration // for rate_limited
	cause      error         // what went wrong underneath, for errors.As
	Retries    int           // how often the client repeated the request before giving up
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message }

// Unwrap gives the underlying error, when there is one.
func (f *Failure) Unwrap() error { return f.cause }

// invalid reports bad input; the message names the parameter and what is allowed.
func invalid(format string, a ...any) *Failure {
	return &Failure{Code: CodeInvalidArgument, Message: fmt.Sprintf(format, a...),
		Next: "Fix the named parameter and call the tool again."}
}

// invalidCause is invalid with the underlying error kept for errors.As.
func invalidCause(cause error, format string, a ...any) *Failure {
	f := invalid(format, a...)
	f.cause = cause
	return f
}

// classify turns any error from a tool run into a Failure.
func classify(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	var apiErr *nanogpt.APIError
	if errors.As(err, &apiErr) {
		return fromAPIError(apiErr)
	}
	var jobErr *nanogpt.JobError
	if errors.As(err, &jobErr) {
		return fromJobError(jobErr)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Failure{Code: CodeUpstreamTimeout, Message: "NanoGPT did not answer in time: " + err.Error(),
			Next: "Try again, perhaps with a smaller request or a faster model."}
	case errors.Is(err, context.Canceled):
		return &Failure{Code: CodeCancelled, Message: "the call was cancelled", Next: "Call again if the result is still wanted."}
	}
	var te *nanogpt.TransportError
	if errors.As(err, &te) || errors.Is(err, nanogpt.ErrStreamTruncated) {
		return &Failure{Code: CodeUpstreamError, Message: "could not reach NanoGPT: " + err.Error(),
			Next: "Check the network and NANOGPT_BASE_URL, then try again.", cause: err}
	}
	return &Failure{Code: CodeInternal, Message: err.Error(), Next: "This is a bug in nanogpt-mcp; please report it."}
}

func fromAPIError(e *nanogpt.APIError) *Failure {
	f := &Failure{Status: e.Status, RetryAfter: e.RetryAfter, Message: "NanoGPT"}
	if e.Status != 0 {
		f.Message += fmt.Sprintf(" answered HTTP %d", e.Status)
	} else {
		f.Message += " reported an error"
	}
	if e.Code != "" {
		f.Message += " (" + e.Code + ")"
	}
	f.Message += ": " + e.Message
	if e.Param != "" {
		f.Message += " [parameter " + e.Param + "]"
	}
	if e.Refund != "" {
		f.Message += " (NanoGPT: " + e.Refund + ")"
	}
	code := strings.ToLower(e.Code)
	switch {
	case e.Code == nanogpt.CodeInvalidResponse:
		f.Code, f.Next = CodeInvalidResponse, "NanoGPT's answer was not one its API documents (nothing usable came back); try again, or use another model."
	case strings.Contains(code, "content_policy"):
		f.Code, f.Next = CodeContentPolicy, "Rephrase the request so that it meets the provider's content policy; it was not charged."
	case strings.HasPrefix(code, "model_not") || e.Status == http.StatusNotFound:
		f.Code, f.Next = CodeModelNotFound, "Use a model id that NanoGPT lists (https://nano-gpt.com/api/v1/models) and that this key may use."
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		f.Code, f.Next = CodeUnauthorized, "Check the NanoGPT API key (NANOGPT_API_KEY): it is missing, wrong, revoked, or not allowed here."
	case e.Status == http.StatusPaymentRequired || strings.Contains(code, "balance"):
		f.Code, f.Next = CodeInsufficientBalance, "Top up the NanoGPT balance at https://nano-gpt.com, or pick a cheaper model, then try again."
	case e.Status == http.StatusTooManyRequests || strings.Contains(code, "rate_limit"):
		f.Code = CodeRateLimited
		if e.RetryAfter > 0 {
			f.Next = fmt.Sprintf("Wait %d seconds, then try again.", int(math.Ceil(e.RetryAfter.Seconds())))
		} else {
			f.Next = "Wait a few seconds, then try again."
		}
	case e.Status == http.StatusRequestTimeout || e.Status == http.StatusGatewayTimeout:
		f.Code, f.Next = CodeUpstreamTimeout, "Try again; a shorter request or a faster model may help."
	case e.Status == http.StatusRequestEntityTooLarge:
		f.Code, f.Next = CodeInvalidArgument, "The input is too large for this model: shorten it, or pass large files by https URL."
	case e.Status >= 400 && e.Status < 500:
		f.Code, f.Next = CodeInvalidArgument, "NanoGPT rejected the request: fix the parameter it names and try again."
	default:
		f.Code, f.Next = CodeUpstreamError, "NanoGPT had a problem; try again in a moment."
	}
	return f
}

func fromJobError(e *nanogpt.JobError) *Failure {
	f := &Failure{Code: CodeJobFailed, Message: "NanoGPT's job " + e.RunID + " " + e.Status,
		Next: "The job was charged when it was accepted and is not resubmitted automatically; call again to start a new one."}
	if e.Message != "" {
		f.Message += ": " + e.Message
	}
	switch {
	case strings.Contains(strings.ToLower(e.Code), "content_policy"):
		f.Code, f.Next = CodeContentPolicy, "Change the input so that it meets the provider's content policy."
	case e.Status == "timeout":
		f.Code, f.Next = CodeUpstreamTimeout, "The job did not finish in time and may still complete at NanoGPT; try again later or with a faster model."
	}
	return f
}

// forRemote is f as a remote caller (hosted) may see it: not where the
// server's NanoGPT is, nor how its network fails (the server logs that).
func (f *Failure) forRemote() *Failure {
	var te *nanogpt.TransportError
	if f.Code == CodeUpstreamError && (errors.As(f, &te) || errors.Is(f, nanogpt.ErrStreamTruncated)) {
		g := *f
		g.Message = "could not reach NanoGPT, or the connection broke (the server's log has the details)"
		g.Next = "Try again in a moment; if it keeps failing, tell the server's operator."
		return &g
	}
	return f
}

// errorResult renders a Failure as an isError tool result the model can read:
// "Error [code]: message" and "Next step: …". For programs, the code, HTTP
// status, retry delay and retries are in _meta (errorCode, httpStatus,
// retryAfterSeconds, retries), not in structuredContent: the official
// TypeScript SDK validates structuredContent against the tool's outputSchema
// even on isError results, so an error object there would break its clients.
func errorResult(f *Failure) *mcp.CallToolResult {
	text := "Error [" + f.Code + "]: " + f.Message
	if f.Retries > 0 {
		text += fmt.Sprintf(" (after %d %s)", f.Retries, plural(f.Retries, "retry", "retries"))
	}
	if f.Next != "" {
		text += "\nNext step: " + f.Next
	}
	meta := map[string]any{"errorCode": f.Code}
	if f.Retries > 0 {
		meta["retries"] = f.Retries
	}
	if f.Status != 0 {
		meta["httpStatus"] = f.Status
	}
	if f.RetryAfter > 0 {
		meta["retryAfterSeconds"] = math.Ceil(f.RetryAfter.Seconds())
	}
	res := mcp.NewToolResultError(text)
	res.Meta = &mcp.Meta{AdditionalFields: meta}
	return res
}
