package nanogpt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// RetryPolicy says when the client repeats a request that failed transiently.
//
// Only failures that NanoGPT answered before doing any work are repeated: HTTP
// 408, 429, 500, 502, 503 and 504, and connections that could not be opened (the
// request never left). A request that got any 2xx answer is never repeated, so
// neither is a job NanoGPT accepted (a ticket with a runId) nor a stream that has
// begun. A connection dropped after the request was sent is repeated only for GET
// requests, since NanoGPT may have charged a POST. Waits grow exponentially with
// jitter, honour Retry-After, and end with the call's context: a wait that would
// outlast its deadline, or a Retry-After longer than MaxDelay, is not waited: the
// last failure is returned instead.
//
// The zero RetryPolicy never retries.
type RetryPolicy struct {
	Retries   int           // how many times one request may be repeated (0: never)
	BaseDelay time.Duration // the first wait, doubled for each further retry; 0 → 500ms
	MaxDelay  time.Duration // the longest single wait, Retry-After included; 0 → 30s
}

// Retry defaults.
const (
	DefaultRetryBaseDelay = 500 * time.Millisecond
	DefaultRetryMaxDelay  = 30 * time.Second
)

// Retry describes one repeat of a request, as handed to a retry observer.
type Retry struct {
	Attempt int           // the attempt about to be made: 2 for the first retry
	Of      int           // the most attempts this request may take
	Wait    time.Duration // how long the client waits before it
	Reason  string        // what failed, e.g. "HTTP 503" or "connection refused"
	Err     error         // the failure being retried
}

type retryObserverKey struct{}

// WithRetryObserver returns a context under which every retry the client makes
// is reported to fn (before its wait). fn must be quick and safe for concurrent use.
func WithRetryObserver(ctx context.Context, fn func(Retry)) context.Context {
	return context.WithValue(ctx, retryObserverKey{}, fn)
}

// noRetryKey marks a context whose requests send must not repeat: status polls,
// which pollJob repeats itself on its next tick.
type noRetryKey struct{}

func retryObserver(ctx context.Context) func(Retry) {
	fn, _ := ctx.Value(retryObserverKey{}).(func(Retry))
	return fn
}

// retryableStatus lists the HTTP statuses NanoGPT documents as worth repeating
// (plus 502 and 504, which gateways in front of it produce).
func retryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryable reports whether err, the failure of one attempt of req, may be repeated,
// and a short reason for messages.
func retryable(req *http.Request, err error) (string, bool) {
	var ae *APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("HTTP %d", ae.Status), ae.Status != 0 && retryableStatus(ae.Status) && ae.Code != CodeInvalidResponse
	}
	var te *TransportError
	if !errors.As(err, &te) {
		return "", false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return "could not connect", true // the request never left
	}
	// Sent, but no answer: only a GET is safe to repeat.
	return "connection failed", req.Method == http.MethodGet || req.Method == http.MethodHead
}

// backoff is the wait before retry n (1 for the first retry): BaseDelay·2^(n-1),
// with "equal jitter" (between half and all of it), at most MaxDelay.
func (p RetryPolicy) backoff(n int) time.Duration {
	base, maxd := p.BaseDelay, p.MaxDelay
	if base <= 0 {
		base = DefaultRetryBaseDelay
	}
	if maxd <= 0 {
		maxd = DefaultRetryMaxDelay
	}
	d := base
	for i := 1; i < n && d < maxd; i++ {
		d *= 2
	}
	d = min(d, maxd)
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryWait decides whether to repeat after err, and how long to wait first.
// It refuses a Retry-After above MaxDelay and a wait past ctx's deadline.
func (p RetryPolicy) retryWait(ctx context.Context, n int, err error) (time.Duration, bool) {
	wait := p.backoff(n)
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		maxd := p.MaxDelay
		if maxd <= 0 {
			maxd = DefaultRetryMaxDelay
		}
		if ae.RetryAfter > maxd {
			return 0, false // the caller is better told to come back later
		}
		wait = ae.RetryAfter
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
		return 0, false
	}
	return wait, true
}

// sleepCtx waits d or until ctx ends, reporting whether the full wait passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
