package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
)

// Limit is a tool's time limit and the setting that changes it, which the error
// of a call that runs out names (e.g. "--image-timeout (NANOGPT_MCP_IMAGE_TIMEOUT)").
type Limit struct {
	Time    time.Duration
	Setting string
}

// limit is the time limit of tool: its own, else the default ("" key).
func (d *Deps) limit(tool string) (Limit, bool) {
	for _, k := range []string{tool, ""} {
		if l, ok := d.Timeouts[k]; ok && l.Time > 0 {
			return l, true
		}
	}
	return Limit{}, false
}

// timeoutError is the cause of a call's context ending at its tool's time limit.
// It is also context.DeadlineExceeded, for code that tests for that.
type timeoutError struct {
	tool  string
	limit Limit
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%s reached its time limit of %s", e.tool, e.limit.Time)
}

func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// ended explains a failure of a call whose context has ended: it ran out of
// time (the tool's limit, or a deadline set by the transport) or the client
// cancelled it. Other failures are returned unchanged.
func ended(ctx context.Context, err error, f *Failure) *Failure {
	if ctx.Err() == nil {
		return f
	}
	var jw *nanogpt.JobWaitError
	job := ""
	if errors.As(err, &jw) {
		job = fmt.Sprintf(" NanoGPT's job %s was last %q; it was accepted (and charged) and may still finish, so it is not resubmitted.", jw.RunID, jw.Status)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return &Failure{Code: CodeCancelled, Message: "the call was cancelled." + job, Next: "Call again if the result is still wanted."}
	}
	var te *timeoutError
	if errors.As(context.Cause(ctx), &te) {
		return &Failure{Code: CodeUpstreamTimeout,
			Message: fmt.Sprintf("%s did not finish within its time limit of %s: NanoGPT had not answered.%s", te.tool, te.limit.Time, job),
			Next: "Try again, perhaps with a smaller request or a faster model. The server's operator can raise the limit with " +
				cmp.Or(te.limit.Setting, "the server's timeout settings") + "."}
	}
	return &Failure{Code: CodeUpstreamTimeout, Message: "the call ran out of time before NanoGPT answered." + job,
		Next: "Try again, perhaps with a smaller request or a faster model."}
}

// retryLog counts the retries the NanoGPT client made for one call and tells
// the client about each (as progress, when it asked for progress).
type retryLog struct {
	progress *progress

	mu      sync.Mutex
	n       int
	reasons []string
}

func (l *retryLog) observe(r nanogpt.Retry) {
	l.mu.Lock()
	l.n++
	if len(l.reasons) < 5 {
		l.reasons = append(l.reasons, r.Reason)
	}
	l.mu.Unlock()
	l.progress.report(fmt.Sprintf("NanoGPT answered %s; retry %d of %d in %s", r.Reason, r.Attempt-1, r.Of-1, r.Wait.Round(10*time.Millisecond)), true)
}

// count returns the retries so far and what they were for.
func (l *retryLog) count() (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, strings.Join(l.reasons, ", ")
}

// note marks a successful result that needed retries: _meta.retries, and a
// short line after the content.
func (l *retryLog) note(res *mcp.CallToolResult) {
	n, reasons := l.count()
	if n == 0 || res == nil {
		return
	}
	setMeta(res, "retries", n)
	res.Content = append(res.Content, mcp.NewTextContent(fmt.Sprintf("(NanoGPT answered after %d %s: %s.)", n, plural(n, "retry", "retries"), reasons)))
}

// setMeta sets one _meta field of a result.
func setMeta(res *mcp.CallToolResult, key string, v any) {
	if res.Meta == nil {
		res.Meta = &mcp.Meta{}
	}
	if res.Meta.AdditionalFields == nil {
		res.Meta.AdditionalFields = map[string]any{}
	}
	res.Meta.AdditionalFields[key] = v
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
