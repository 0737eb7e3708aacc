package nanogpt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// relFast retries quickly, so that tests do not wait.
var relFast = RetryPolicy{Retries: 2, BaseDelay: time.Millisecond, MaxDelay: 200 * time.Millisecond}

// relFake starts a fake NanoGPT and a client with policy pointed at it.
func relFake(t *testing.T, policy RetryPolicy) (*nanogpttest.Server, *Client) {
	t.Helper()
	fake := nanogpttest.New(chatKey)
	t.Cleanup(fake.Close)
	return fake, New(Config{BaseURL: fake.URL, APIKey: chatKey, Retry: policy})
}

// relScript answers the n-th request (from 0) with statuses[n] as an error, or
// with ok once the statuses run out.
func relScript(statuses []int, retryAfter string, ok http.HandlerFunc) (http.HandlerFunc, *atomic.Int32) {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(statuses) {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			nanogpttest.Error(w, statuses[i], fmt.Sprintf(`{"error":{"message":"scripted %d","code":"scripted"}}`, statuses[i]))
			return
		}
		ok(w, r)
	}, &n
}

// relObserve collects the retries reported under the returned context.
func relObserve(ctx context.Context) (context.Context, func() []Retry) {
	var mu sync.Mutex
	var seen []Retry
	ctx = WithRetryObserver(ctx, func(r Retry) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
	})
	return ctx, func() []Retry {
		mu.Lock()
		defer mu.Unlock()
		return append([]Retry(nil), seen...)
	}
}

var relChat = ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}}

func TestRetryTransientStatusesAreRetried(t *testing.T) {
	for _, status := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			fake, c := relFake(t, relFast)
			h, n := relScript([]int{status}, "", chatOK)
			fake.Handle("POST "+chatPath, h)
			ctx, seen := relObserve(context.Background())
			resp, err := c.Chat(ctx, relChat)
			if err != nil {
				t.Fatalf("err = %v, want success after one retry", err)
			}
			if resp.First().Message.Content != "ok" || n.Load() != 2 {
				t.Errorf("content %q after %d requests", resp.First().Message.Content, n.Load())
			}
			got := seen()
			if len(got) != 1 || got[0].Attempt != 2 || got[0].Of != 3 || got[0].Reason != fmt.Sprintf("HTTP %d", status) {
				t.Errorf("observed %+v", got)
			}
			reqs := fake.Requests()
			if len(reqs) != 2 || string(reqs[0].Body) != string(reqs[1].Body) || reqs[1].Header.Get("x-api-key") != chatKey {
				t.Errorf("the retry must resend the same body with auth: %d requests", len(reqs))
			}
		})
	}
}

func TestRetryPermanentStatusesAreNot(t *testing.T) {
	for _, status := range []int{400, 401, 402, 403, 404, 409, 413, 501} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			fake, c := relFake(t, relFast)
			h, n := relScript([]int{status, status, status}, "", chatOK)
			fake.Handle("POST "+chatPath, h)
			_, err := c.Chat(context.Background(), relChat)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != status || n.Load() != 1 {
				t.Errorf("err = %v after %d requests, want HTTP %d after 1", err, n.Load(), status)
			}
		})
	}
}

func TestRetryGivesUpAfterRetriesWithTheLastError(t *testing.T) {
	fake, c := relFake(t, relFast)
	h, n := relScript([]int{500, 502, 503, 503}, "", chatOK)
	fake.Handle("POST "+chatPath, h)
	ctx, seen := relObserve(context.Background())
	_, err := c.Chat(ctx, relChat)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 || n.Load() != 3 {
		t.Fatalf("err = %v after %d requests, want the third answer (503) after 3", err, n.Load())
	}
	if got := seen(); len(got) != 2 || got[0].Reason != "HTTP 500" || got[1].Reason != "HTTP 502" || got[1].Attempt != 3 {
		t.Errorf("observed %+v", got)
	}
}

func TestRetryZeroPolicyNeverRetries(t *testing.T) {
	fake, c := relFake(t, RetryPolicy{})
	h, n := relScript([]int{503}, "", chatOK)
	fake.Handle("POST "+chatPath, h)
	if _, err := c.Chat(context.Background(), relChat); err == nil || n.Load() != 1 {
		t.Errorf("err = %v after %d requests, want the 503 after 1", err, n.Load())
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	fake, c := relFake(t, RetryPolicy{Retries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Second})
	h, n := relScript([]int{429}, "0.15", chatOK)
	fake.Handle("POST "+chatPath, h)
	ctx, seen := relObserve(context.Background())
	start := time.Now()
	if _, err := c.Chat(ctx, relChat); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || n.Load() != 2 {
		t.Errorf("retried after %s (%d requests), want after Retry-After 150ms", d, n.Load())
	}
	if got := seen(); len(got) != 1 || got[0].Wait != 150*time.Millisecond {
		t.Errorf("observed %+v", got)
	}
}

func TestRetryAfterAboveTheCapIsNotWaited(t *testing.T) {
	fake, c := relFake(t, RetryPolicy{Retries: 3, BaseDelay: time.Millisecond, MaxDelay: time.Second})
	h, n := relScript([]int{429, 429}, "120", chatOK)
	fake.Handle("POST "+chatPath, h)
	start := time.Now()
	_, err := c.Chat(context.Background(), relChat)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 429 || ae.RetryAfter != 120*time.Second || n.Load() != 1 {
		t.Fatalf("err = %v after %d requests, want the 429 (Retry-After 120s) at once", err, n.Load())
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s", d)
	}
}

func TestRetryStaysWithinTheDeadline(t *testing.T) {
	fake, c := relFake(t, RetryPolicy{Retries: 5, BaseDelay: time.Second, MaxDelay: 10 * time.Second})
	h, n := relScript([]int{503, 503, 503, 503, 503, 503}, "", chatOK)
	fake.Handle("POST "+chatPath, h)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Chat(ctx, relChat)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 {
		t.Fatalf("err = %v, want the 503 (a wait past the deadline is not started)", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond || n.Load() != 1 {
		t.Errorf("took %s and %d requests", d, n.Load())
	}
}

func TestRetryWaitEndsOnCancel(t *testing.T) {
	fake, c := relFake(t, RetryPolicy{Retries: 2, BaseDelay: time.Hour, MaxDelay: time.Hour})
	h, _ := relScript([]int{503, 503, 503}, "", chatOK)
	fake.Handle("POST "+chatPath, h)
	ctx, cancel := context.WithCancel(context.Background())
	var at atomic.Int64
	time.AfterFunc(50*time.Millisecond, func() { at.Store(time.Now().UnixNano()); cancel() })
	_, err := c.Chat(ctx, relChat)
	lag := time.Since(time.Unix(0, at.Load()))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if lag > 100*time.Millisecond {
		t.Errorf("returned %s after the cancel", lag)
	}
}

func TestRetryStreamOnlyBeforeItBegins(t *testing.T) {
	t.Run("503 before the stream", func(t *testing.T) {
		fake, c := relFake(t, relFast)
		h, n := relScript([]int{503}, "", nanogpttest.ChatHandler(func(map[string]any) string { return "a b c" }))
		fake.Handle("POST "+chatPath, h)
		var deltas strings.Builder
		resp, err := c.ChatStream(context.Background(), relChat, func(d Delta) error { deltas.WriteString(d.Content); return nil })
		if err != nil || resp.First().Message.Content != "a b c" || deltas.String() != "a b c" || n.Load() != 2 {
			t.Errorf("resp %+v err %v deltas %q after %d requests", resp, err, deltas.String(), n.Load())
		}
	})
	t.Run("cut mid-stream", func(t *testing.T) {
		fake, c := relFake(t, relFast)
		var n atomic.Int32
		fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"part\"}}]}\n\n")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // drop the connection
		})
		var deltas strings.Builder
		_, err := c.ChatStream(context.Background(), relChat, func(d Delta) error { deltas.WriteString(d.Content); return nil })
		if err == nil || n.Load() != 1 || deltas.String() != "part" {
			t.Errorf("err %v deltas %q after %d requests, want a failure after 1", err, deltas.String(), n.Load())
		}
	})
}

// relDropFake answers every request by closing the connection without a reply.
func relDropFake(t *testing.T) (*nanogpttest.Server, *atomic.Int32) {
	fake := nanogpttest.New(chatKey)
	t.Cleanup(fake.Close)
	var n atomic.Int32
	drop := func(w http.ResponseWriter, r *http.Request) { n.Add(1); panic(http.ErrAbortHandler) }
	fake.Handle("POST "+chatPath, drop)
	fake.Handle("GET /api/v1/models", drop)
	return fake, &n
}

func TestRetryDroppedConnection(t *testing.T) {
	fake, n := relDropFake(t)
	c := New(Config{BaseURL: fake.URL, APIKey: chatKey, Retry: relFast})
	_, err := c.Chat(context.Background(), relChat)
	var te *TransportError
	if !errors.As(err, &te) || n.Load() != 1 {
		t.Errorf("POST: err = %v after %d requests, want a TransportError after 1 (a POST may have been charged)", err, n.Load())
	}
	n.Store(0)
	_, err = c.ListModels(context.Background(), TextModels)
	if !errors.As(err, &te) || n.Load() != 3 {
		t.Errorf("GET: err = %v after %d requests, want a TransportError after 3", err, n.Load())
	}
}

func TestRetryConnectFailureIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	c := New(Config{BaseURL: "http://" + addr, APIKey: chatKey, Retry: relFast})
	ctx, seen := relObserve(context.Background())
	_, err = c.Chat(ctx, relChat)
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a TransportError", err)
	}
	if got := seen(); len(got) != 2 || got[0].Reason != "could not connect" {
		t.Errorf("observed %+v, want 2 retries of a refused connection", got)
	}
}

func TestRetryAcceptedJobIsNeverResubmitted(t *testing.T) {
	fake, c := relFake(t, relFast)
	post, posts := relScript([]int{503}, "", func(w http.ResponseWriter, r *http.Request) { speechRaw(w, http.StatusAccepted, speechTicket) })
	fake.Handle("POST "+speechPath, post)
	var polls atomic.Int32
	fake.Handle("GET "+ttsStatusPath, func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		nanogpttest.Error(w, 503, `{"error":"busy"}`)
	})
	ctx, seen := relObserve(context.Background())
	_, err := c.CreateSpeech(ctx, SpeechRequest{Model: "m", Input: "x"}, PollOptions{Interval: time.Millisecond, MaxWait: 5 * time.Second})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 {
		t.Fatalf("err = %v, want the status poll's 503", err)
	}
	// The POST got a 503 once and was repeated; the accepted job was then polled
	// (its polls are repeated by the polling, not by the client's retries).
	if posts.Load() != 2 || polls.Load() != maxTransientPolls+1 {
		t.Errorf("%d POSTs and %d polls, want 2 and %d", posts.Load(), polls.Load(), maxTransientPolls+1)
	}
	if got := seen(); len(got) != 1 {
		t.Errorf("observed %+v, want only the POST's retry", got)
	}
}

func TestRetryBackoffBounds(t *testing.T) {
	p := RetryPolicy{Retries: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for n, full := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		for range 50 {
			if d := p.backoff(n); d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %s, want between %s and %s", n, d, full/2, full)
			}
		}
	}
	if d := (RetryPolicy{}).backoff(1); d < DefaultRetryBaseDelay/2 || d > DefaultRetryBaseDelay {
		t.Errorf("default backoff(1) = %s", d)
	}
}
