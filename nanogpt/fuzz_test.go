package nanogpt

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fuzzStreams are seed streams for the SSE reader and the chat stream reader.
var fuzzStreams = []string{
	"data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]\n\n",
	": keep-alive\r\n\r\nevent: message\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"hmm\",\"content\":\"x\"}}]}\r\n\r\ndata: [DONE]\r\n",
	"data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other choice\"}}]}\n\ndata: [DONE]",
	"data: {\"error\":{\"message\":\"overloaded\",\"code\":503,\"status\":503}}\n\n",
	"data: {\"error\":\"plain\"}\n\n",
	"data: not json\n\n",
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"cut",
	"data:a\ndata:b\ndata\n\n",
	"id: 1\nretry: 10\n\n\n\ndata: [DONE]\n\n",
	"data: {\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":{\"content\":[{\"token\":\"a\"}]}}]}\n\ndata: [DONE]\n\n",
	"",
}

// FuzzReadEvents feeds arbitrary bytes to the SSE reader: no panic, and the
// data handed out never exceeds the input.
func FuzzReadEvents(f *testing.F) {
	for _, s := range fuzzStreams {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		total := 0
		err := readEvents(bytes.NewReader(body), func(data string) (bool, error) {
			total += len(data)
			return strings.TrimSpace(data) == "[DONE]", nil
		})
		if total > len(body) {
			t.Fatalf("handed out %d bytes of data from %d bytes of stream", total, len(body))
		}
		_ = err
	})
}

// FuzzReadChatStream assembles chat completions from arbitrary streams: no
// panic, the assembled text never exceeds the input, and every failure is a
// typed error (APIError, TransportError or ErrStreamTruncated) or the
// reader's size limit.
func FuzzReadChatStream(f *testing.F) {
	for _, s := range fuzzStreams {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		deltas := 0
		resp, err := readChatStream(bytes.NewReader(body), func(d Delta) error {
			deltas += len(d.Content) + len(d.Reasoning)
			return nil
		})
		if err != nil {
			var ae *APIError
			var te *TransportError
			if !errors.As(err, &ae) && !errors.As(err, &te) && !errors.Is(err, ErrStreamTruncated) && !strings.Contains(err.Error(), "larger than") {
				t.Fatalf("untyped failure %T: %v", err, err)
			}
			if errors.As(err, &ae) && len(ae.Message) > len(body)+400 {
				t.Fatalf("error message of %d bytes from %d bytes", len(ae.Message), len(body))
			}
			return
		}
		msg := resp.First().Message
		if n := len(msg.Content) + len(msg.Reasoning); n > len(body) || n != deltas {
			t.Fatalf("assembled %d bytes (deltas %d) from %d bytes of stream", n, deltas, len(body))
		}
		if len(resp.Choices) != 1 {
			t.Fatalf("%d choices", len(resp.Choices))
		}
	})
}

// FuzzParseAPIError reads arbitrary error answers: no panic, a message no
// longer than the body allows, and a sane Retry-After.
func FuzzParseAPIError(f *testing.F) {
	for _, seed := range []struct {
		status     int
		retryAfter string
		body       string
	}{
		{400, "", `{"error":{"message":"bad","type":"invalid_request_error","code":"missing_required_parameter","param":"model"}}`},
		{402, "", `{"error":"Insufficient balance","requiredBalance":0.0035,"status":402}`},
		{402, "", `{"error":402,"message":"pay"}`},
		{402, "", `{"error":{"message":"Insufficient balance","type":"insufficient_balance","code":402}}`},
		{429, "42", `{"code":"rate_limited","message":"Rate limit exceeded"}`},
		{429, "Wed, 21 Oct 2099 07:28:00 GMT", `{"error":{"code":"daily_rpd_limit_exceeded"}}`},
		{503, "1.5", `<html>Service Unavailable</html>`},
		{500, "-1", ``},
		{502, "1e400", `{}`},
		{504, "9999999999", `{"error":null,"message":null}`},
		{418, "Fri, 31 Dec 9999 23:59:59 GMT", `{"error":{"code":{"nested":true}}}`},
	} {
		f.Add(seed.status, seed.retryAfter, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		e := parseAPIError(status, h, body)
		if e == nil || e.Status != status {
			t.Fatalf("parseAPIError = %+v", e)
		}
		if e.Message == "" && http.StatusText(status) != "" {
			t.Fatal("empty message")
		}
		if len(e.Message) > len(body)+400 || len(e.Code) > len(body) || len(e.Type) > len(body) || len(e.Param) > len(body) {
			t.Fatalf("fields longer than the body: message %d, code %d, body %d", len(e.Message), len(e.Code), len(body))
		}
		if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
			t.Fatalf("Retry-After %q gave %s", retryAfter, e.RetryAfter)
		}
		_ = e.Error()
		_ = streamError(body)
	})
}

// TestRetryAfterFarFutureDateIsIgnored pins two fuzzing finds: an HTTP date far
// ahead gave a Retry-After of decades or centuries (the delta-seconds form was
// already capped), and "NaN" a negative one.
func TestRetryAfterFarFutureDateIsIgnored(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, v := range []string{"Fri, 31 Dec 9999 23:59:59 GMT", "Wed, 21 Oct 2099 07:28:00 GMT"} {
		if d := parseRetryAfter(v, now); d != 0 {
			t.Errorf("Retry-After %q = %s, want ignored", v, d)
		}
	}
	for _, v := range []string{"NaN", "+Inf", "-Inf", "1e400"} { // a NaN once became a negative duration
		if d := parseRetryAfter(v, now); d != 0 {
			t.Errorf("Retry-After %q = %s, want ignored", v, d)
		}
	}
	if d := parseRetryAfter("Thu, 01 Jan 2026 00:01:00 GMT", now); d != time.Minute {
		t.Errorf("a date a minute ahead = %s", d)
	}
}
