package nanogpt

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// streamCollect runs readEvents over input and returns the events seen and the result.
func streamCollect(input string) ([]string, error) {
	var got []string
	err := readEvents(strings.NewReader(input), func(data string) (bool, error) {
		got = append(got, data)
		return false, nil
	})
	return got, err
}

func TestStreamReadEventsFraming(t *testing.T) {
	input := ": keep-alive comment\n" +
		"event: message\n" +
		"id: 7\n" +
		"retry: 1000\n" +
		"data: first\n" +
		"\n" +
		"data: line one\n" +
		"data: line two\n" +
		"data:\n" +
		"data: line four\n" +
		"\n" +
		"data:no-space\n" +
		"data:  two spaces\n" +
		"\n" +
		"data\n" +
		"\n" +
		"\n\n" + // blank lines with no data dispatch nothing
		"event: ping\n" +
		": only a comment\n" +
		"\n" +
		"data: {\"a\":1}\n" +
		"\n"
	got, err := streamCollect(input)
	want := []string{"first", "line one\nline two\n\nline four", "no-space\n two spaces", "", `{"a":1}`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events =\n%q\nwant\n%q", got, want)
	}
	if !errors.Is(err, ErrStreamTruncated) {
		t.Errorf("err = %v, want ErrStreamTruncated (fn never stopped)", err)
	}
}

func TestStreamReadEventsCRLF(t *testing.T) {
	input := ": c\r\nevent: x\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"
	got, _ := streamCollect(input)
	want := []string{"a\nb", "c"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
}

func TestStreamReadEventsStopAndError(t *testing.T) {
	var seen []string
	err := readEvents(strings.NewReader("data: 1\n\ndata: stop\n\ndata: 3\n\n"), func(d string) (bool, error) {
		seen = append(seen, d)
		return d == "stop", nil
	})
	if err != nil || !reflect.DeepEqual(seen, []string{"1", "stop"}) {
		t.Errorf("stop: err=%v seen=%q, want nil and [1 stop]", err, seen)
	}

	boom := errors.New("boom")
	seen = nil
	err = readEvents(strings.NewReader("data: 1\n\ndata: 2\n\n"), func(d string) (bool, error) {
		seen = append(seen, d)
		return false, boom
	})
	if !errors.Is(err, boom) || len(seen) != 1 {
		t.Errorf("error: err=%v seen=%q, want boom after one event", err, seen)
	}
}

// streamCountingReader yields an endless (but capped) pattern and counts bytes read.
type streamCountingReader struct {
	pattern []byte
	off     int
	n       int64
	limit   int64
}

func (r *streamCountingReader) Read(p []byte) (int, error) {
	if r.n >= r.limit {
		return 0, io.EOF
	}
	if rem := r.limit - r.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	for i := range p {
		p[i] = r.pattern[r.off]
		r.off = (r.off + 1) % len(r.pattern)
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestStreamOversizedEventIsBoundedError(t *testing.T) {
	const limit = 64 << 20 // far more than maxEventSize; an unbounded reader would consume it all
	for _, tc := range []struct {
		name    string
		pattern string
	}{
		{"one endless line", "data: " + strings.Repeat("x", 4096)},
		{"endless data lines, no blank line", "data: " + strings.Repeat("y", 1000) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &streamCountingReader{pattern: []byte(tc.pattern), limit: limit}
			calls := 0
			err := readEvents(r, func(string) (bool, error) { calls++; return false, nil })
			if err == nil {
				t.Fatal("oversized event: err = nil")
			}
			if errors.Is(err, ErrStreamTruncated) {
				t.Errorf("oversized event reported as truncation (the reader was drained?): %v", err)
			}
			if !strings.Contains(err.Error(), "larger than") {
				t.Errorf("err = %v, want a size error", err)
			}
			if calls != 0 {
				t.Errorf("fn called %d times with a partial oversized event", calls)
			}
			if r.n > 2*maxEventSize {
				t.Errorf("read %d bytes before giving up, want at most about maxEventSize (%d)", r.n, maxEventSize)
			}
		})
	}
	// An event just under the cap is fine.
	big := strings.Repeat("z", maxEventSize-1024)
	got, err := streamCollect("data: " + big + "\n\n")
	if len(got) != 1 || got[0] != big || !errors.Is(err, ErrStreamTruncated) {
		t.Errorf("near-cap event: %d events, err %v", len(got), err)
	}
}

const (
	streamChunkRole   = `{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"openai/gpt-5.1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`
	streamChunkReason = `{"id":"chatcmpl-1","model":"openai/gpt-5.1","choices":[{"index":0,"delta":{"reasoning":"think "},"finish_reason":null}]}`
	streamChunkLegacy = `{"id":"chatcmpl-1","model":"openai/gpt-5.1","choices":[{"index":0,"delta":{"reasoning_content":"more"},"finish_reason":null}]}`
	streamChunkHello  = `{"id":"chatcmpl-1","model":"openai/gpt-5.1","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null,"logprobs":{"content":[{"token":"Hel","logprob":-0.1}]}}]}`
	streamChunkLo     = `{"id":"chatcmpl-1","model":"openai/gpt-5.1","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null,"logprobs":{"content":[{"token":"lo","logprob":-0.2}]}}]}`
	streamChunkOther  = `{"id":"chatcmpl-1","model":"openai/gpt-5.1","choices":[{"index":1,"delta":{"content":"OTHER CHOICE"},"finish_reason":null}]}`
	streamChunkFinal  = `{"id":"chatcmpl-1","model":"openai/gpt-5.1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":9,"completion_tokens":20,"total_tokens":29,"completion_tokens_details":{"reasoning_tokens":4}},` +
		`"x_nanogpt_pricing":{"cost":0.000169,"inputTokens":9,"outputTokens":20,"paymentSource":"USD"}}`
	streamChunkError = `{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"error"}],` +
		`"error":{"status":503,"message":"upstream provider unavailable","code":"service_unavailable"}}`
)

// streamSSE frames each payload as one data: event.
func streamSSE(payloads ...string) string {
	var b strings.Builder
	for _, p := range payloads {
		b.WriteString("data: " + p + "\n\n")
	}
	return b.String()
}

// streamDeltas returns an onDelta that records deltas.
func streamDeltas(into *[]Delta) func(Delta) error {
	return func(d Delta) error { *into = append(*into, d); return nil }
}

// streamCheckAssembled checks the response built from the chunks above.
func streamCheckAssembled(t *testing.T, out *ChatResponse, deltas []Delta) {
	t.Helper()
	wantDeltas := []Delta{{Reasoning: "think "}, {Reasoning: "more"}, {Content: "Hel"}, {Content: "lo"}}
	if !reflect.DeepEqual(deltas, wantDeltas) {
		t.Errorf("deltas = %+v, want %+v", deltas, wantDeltas)
	}
	if out == nil {
		t.Fatal("nil response")
	}
	if out.ID != "chatcmpl-1" || out.Model != "openai/gpt-5.1" {
		t.Errorf("id/model = %q/%q", out.ID, out.Model)
	}
	if len(out.Choices) != 1 {
		t.Fatalf("choices = %d, want 1", len(out.Choices))
	}
	ch := out.First()
	if ch.Message.Content != "Hello" || ch.Message.ReasoningText() != "think more" || ch.Message.Role != "assistant" {
		t.Errorf("message = %+v, want content Hello, reasoning \"think more\"", ch.Message)
	}
	if ch.FinishReason != "stop" {
		t.Errorf("finish_reason = %q, want stop", ch.FinishReason)
	}
	if !chatJSONEqual(t, ch.Logprobs, `{"content":[{"token":"Hel","logprob":-0.1},{"token":"lo","logprob":-0.2}]}`) {
		t.Errorf("logprobs = %s", ch.Logprobs)
	}
	if u := out.Usage; u == nil || u.PromptTokens != 9 || u.CompletionTokens != 20 || u.TotalTokens != 29 ||
		u.CompletionTokensDetails == nil || u.CompletionTokensDetails.ReasoningTokens != 4 {
		t.Errorf("usage = %+v, want the final chunk's", out.Usage)
	}
	if p := out.Pricing; p == nil || p.Cost == nil || *p.Cost != 0.000169 || p.InputTokens != 9 || p.OutputTokens != 20 || p.PaymentSource != "USD" {
		t.Errorf("pricing = %+v, want the final chunk's", out.Pricing)
	}
}

func TestStreamReadChatStreamAssembles(t *testing.T) {
	input := streamSSE(streamChunkRole, streamChunkReason, streamChunkLegacy, streamChunkHello, streamChunkOther, streamChunkLo, streamChunkFinal, "[DONE]") +
		streamSSE(`{"choices":[{"index":0,"delta":{"content":"AFTER DONE"}}]}`, "not json")
	var deltas []Delta
	out, err := readChatStream(strings.NewReader(input), streamDeltas(&deltas))
	if err != nil {
		t.Fatalf("readChatStream: %v", err)
	}
	streamCheckAssembled(t, out, deltas)
}

func TestStreamReadChatStreamCRLFAndNilCallback(t *testing.T) {
	input := strings.ReplaceAll(": hi\nevent: chunk\n"+streamSSE(streamChunkRole, streamChunkReason, streamChunkLegacy, streamChunkHello, streamChunkLo, streamChunkFinal, "[DONE]"), "\n", "\r\n")
	out, err := readChatStream(strings.NewReader(input), nil)
	if err != nil {
		t.Fatalf("readChatStream: %v", err)
	}
	streamCheckAssembled(t, out, []Delta{{Reasoning: "think "}, {Reasoning: "more"}, {Content: "Hel"}, {Content: "lo"}})
}

func TestStreamReadChatStreamMultiLineChunk(t *testing.T) {
	// One JSON chunk split across data: lines; joined with "\n" it is still valid JSON.
	input := "data: {\"id\":\"c\",\n" +
		"data:  \"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n" +
		"data: [DONE]\n\n"
	var deltas []Delta
	out, err := readChatStream(strings.NewReader(input), streamDeltas(&deltas))
	if err != nil {
		t.Fatalf("readChatStream: %v", err)
	}
	if out.First().Message.Content != "hi" || len(deltas) != 1 {
		t.Errorf("content = %q, deltas %+v", out.First().Message.Content, deltas)
	}
}

func TestStreamMidStreamErrorFrame(t *testing.T) {
	input := streamSSE(streamChunkHello, streamChunkError, "[DONE]")
	var deltas []Delta
	out, err := readChatStream(strings.NewReader(input), streamDeltas(&deltas))
	if out != nil {
		t.Errorf("response = %+v, want nil on a mid-stream error", out)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v (%T), want *APIError", err, err)
	}
	if apiErr.Status != 503 || apiErr.Code != "service_unavailable" || !strings.Contains(apiErr.Message, "upstream provider unavailable") {
		t.Errorf("APIError = %+v, want status 503, code service_unavailable, the frame's message", apiErr)
	}
	if len(deltas) != 1 || deltas[0].Content != "Hel" {
		t.Errorf("deltas before the error = %+v", deltas)
	}

	// Error frames as a bare string, and an explicit null error that is not an error.
	_, err = readChatStream(strings.NewReader(streamSSE(`{"error":"provider exploded"}`, "[DONE]")), nil)
	if !errors.As(err, &apiErr) || !strings.Contains(apiErr.Message, "provider exploded") {
		t.Errorf("string error frame: %v", err)
	}
	out, err = readChatStream(strings.NewReader(streamSSE(`{"choices":[{"index":0,"delta":{"content":"ok"}}],"error":null}`, "[DONE]")), nil)
	if err != nil || out.First().Message.Content != "ok" {
		t.Errorf("error:null frame: out=%+v err=%v", out, err)
	}
}

func TestStreamTruncated(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		wantDeltas  int
	}{
		{"no [DONE]", streamSSE(streamChunkHello, streamChunkLo, streamChunkFinal), 2},
		{"empty body", "", 0},
		{"cut inside a JSON line", streamSSE(streamChunkHello) + `data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"l`, 1},
		{"cut after a data line, before its blank line", streamSSE(streamChunkHello) + "data: {\"id\":\"chatcmpl-1\",\n", 1},
		{"cut mid [DONE]", streamSSE(streamChunkHello) + "data: [DO", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var deltas []Delta
			out, err := readChatStream(strings.NewReader(tc.input), streamDeltas(&deltas))
			if !errors.Is(err, ErrStreamTruncated) {
				t.Errorf("err = %v, want errors.Is ErrStreamTruncated", err)
			}
			if out != nil {
				t.Errorf("response = %+v, want nil", out)
			}
			if len(deltas) != tc.wantDeltas {
				t.Errorf("deltas = %+v, want %d", deltas, tc.wantDeltas)
			}
		})
	}
	// [DONE] on the last line without its trailing blank line still ends the stream cleanly.
	out, err := readChatStream(strings.NewReader(streamSSE(streamChunkHello)+"data: [DONE]"), nil)
	if err != nil || out.First().Message.Content != "Hel" {
		t.Errorf("final [DONE] without blank line: out=%+v err=%v", out, err)
	}
}

func TestStreamMalformedChunk(t *testing.T) {
	_, err := readChatStream(strings.NewReader(streamSSE(streamChunkHello, "{not json", "[DONE]")), nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "invalid_response" {
		t.Fatalf("err = %v, want *APIError invalid_response", err)
	}
	if errors.Is(err, ErrStreamTruncated) {
		t.Errorf("a complete malformed chunk is not a truncation: %v", err)
	}
}

func TestStreamCallbackErrorAborts(t *testing.T) {
	stop := errors.New("client went away")
	calls := 0
	out, err := readChatStream(strings.NewReader(streamSSE(streamChunkHello, streamChunkLo, streamChunkFinal, "[DONE]")), func(Delta) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || out != nil {
		t.Errorf("out=%+v err=%v, want nil and the callback's error", out, err)
	}
	if calls != 1 {
		t.Errorf("callback called %d times, want 1 (stream abandoned after the error)", calls)
	}
}

// streamWrite writes SSE frames and flushes them.
func streamWrite(w http.ResponseWriter, payloads ...string) {
	_, _ = io.WriteString(w, streamSSE(payloads...))
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func streamHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
}

func TestStreamChatStreamOverHTTP(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		streamHeaders(w)
		streamWrite(w, streamChunkRole, streamChunkReason, streamChunkLegacy)
		_, _ = io.WriteString(w, ": keep-alive\r\n\r\n")
		streamWrite(w, streamChunkHello, streamChunkLo, streamChunkFinal, "[DONE]")
	})
	var deltas []Delta
	req := ChatRequest{Model: "openai/gpt-5.1", Messages: []Message{{Role: "user", Text: "hi"}}, Sampling: Sampling{Temperature: chatPtr(0.0)}}
	out, err := c.ChatStream(context.Background(), req, streamDeltas(&deltas))
	if err != nil {
		t.Fatalf("ChatStream: %v", err)
	}
	streamCheckAssembled(t, out, deltas)

	r := chatLast(t, fake)
	for h, want := range map[string]string{
		"Authorization": "Bearer " + chatKey,
		"X-Api-Key":     chatKey,
		"Content-Type":  "application/json",
		"Accept":        "text/event-stream",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	body := chatRawBody(t, r.Body)
	if string(body["stream"]) != "true" {
		t.Errorf("stream = %s, want true", body["stream"])
	}
	if !chatJSONEqual(t, body["stream_options"], `{"include_usage":true}`) {
		t.Errorf("stream_options = %s, want {\"include_usage\":true}", body["stream_options"])
	}
	if string(body["temperature"]) != "0" {
		t.Errorf("temperature = %s, want 0", body["temperature"])
	}
	if got := chatKeys(body); !reflect.DeepEqual(got, []string{"messages", "model", "stream", "stream_options", "temperature"}) {
		t.Errorf("body keys = %v", got)
	}
}

func TestStreamChatStreamHTTPErrors(t *testing.T) {
	fake, c := chatFake(t)
	req := ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}}

	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		streamHeaders(w)
		streamWrite(w, streamChunkHello, streamChunkError, "[DONE]")
	})
	var apiErr *APIError
	if _, err := c.ChatStream(context.Background(), req, nil); !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Code != "service_unavailable" {
		t.Errorf("mid-stream error: %v, want *APIError 503 service_unavailable", err)
	}

	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		streamHeaders(w)
		streamWrite(w, streamChunkHello, streamChunkLo)
	})
	if _, err := c.ChatStream(context.Background(), req, nil); !errors.Is(err, ErrStreamTruncated) {
		t.Errorf("stream without [DONE]: %v, want ErrStreamTruncated", err)
	}

	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		http.Error(w, `{"error":{"message":"Insufficient balance","type":"insufficient_balance","code":402}}`, http.StatusPaymentRequired)
	})
	called := false
	_, err := c.ChatStream(context.Background(), req, func(Delta) error { called = true; return nil })
	if !errors.As(err, &apiErr) || apiErr.Status != 402 || apiErr.Code != "402" || apiErr.Message != "Insufficient balance" || apiErr.RetryAfter != 3*time.Second {
		t.Errorf("error before the stream: %v (%+v), want *APIError 402", err, apiErr)
	}
	if called {
		t.Error("callback called for an error answer")
	}
}

func TestStreamChatStreamJSONAnswer(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"id":"j","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"whole answer","reasoning":"why"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},"x_nanogpt_pricing":{"cost":0.5}}`)
	})
	var deltas []Delta
	out, err := c.ChatStream(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "hi"}}}, streamDeltas(&deltas))
	if err != nil {
		t.Fatalf("ChatStream: %v", err)
	}
	if out.ID != "j" || out.First().Message.Content != "whole answer" || out.First().FinishReason != "stop" ||
		out.Usage == nil || out.Usage.TotalTokens != 3 || out.Pricing == nil || *out.Pricing.Cost != 0.5 {
		t.Errorf("response = %+v", out)
	}
	if want := []Delta{{Content: "whole answer", Reasoning: "why"}}; !reflect.DeepEqual(deltas, want) {
		t.Errorf("deltas = %+v, want %+v", deltas, want)
	}

	// A JSON answer that is not JSON is an invalid_response, not a stream error.
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "<html>oops</html>")
	})
	var apiErr *APIError
	if _, err := c.ChatStream(context.Background(), ChatRequest{Model: "m"}, nil); !errors.As(err, &apiErr) || apiErr.Code != "invalid_response" {
		t.Errorf("bad JSON answer: %v, want invalid_response", err)
	}
}

func TestStreamChatStreamWithSharedChatHandler(t *testing.T) {
	fake, c := chatFake(t)
	// The shared handler streams only when the request asks for it.
	fake.Handle("POST "+chatPath, nanogpttest.ChatHandler(func(req map[string]any) string {
		return req["messages"].([]any)[0].(map[string]any)["content"].(string)
	}))
	var deltas []Delta
	out, err := c.ChatStream(context.Background(), ChatRequest{Model: "m", Messages: []Message{{Role: "user", Text: "one two three"}}}, streamDeltas(&deltas))
	if err != nil {
		t.Fatalf("ChatStream: %v", err)
	}
	if out.First().Message.Content != "one two three" || out.First().FinishReason != "stop" {
		t.Errorf("response = %+v", out.First())
	}
	want := []Delta{{Content: "one "}, {Content: "two "}, {Content: "three"}}
	if !reflect.DeepEqual(deltas, want) {
		t.Errorf("deltas = %+v, want word by word %+v", deltas, want)
	}
	if out.Usage == nil || out.Usage.TotalTokens != 29 || out.Pricing == nil {
		t.Errorf("usage/pricing from the final chunk missing: %+v %+v", out.Usage, out.Pricing)
	}
}

func TestStreamChatStreamCallbackErrorAbortsOverHTTP(t *testing.T) {
	fake, c := chatFake(t)
	var wrote atomic.Int32
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		streamHeaders(w)
		streamWrite(w, streamChunkHello)
		wrote.Add(1)
		select { // hold the stream open until the client leaves
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
		}
		streamWrite(w, streamChunkLo, streamChunkFinal, "[DONE]")
	})
	stop := errors.New("stop now")
	calls := 0
	start := time.Now()
	out, err := c.ChatStream(context.Background(), ChatRequest{Model: "m"}, func(Delta) error { calls++; return stop })
	if !errors.Is(err, stop) || out != nil {
		t.Errorf("out=%+v err=%v, want the callback's error", out, err)
	}
	if calls != 1 {
		t.Errorf("callback called %d times, want 1", calls)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ChatStream took %v to abandon the stream", d)
	}
}

func TestStreamChatStreamContextCancel(t *testing.T) {
	fake, c := chatFake(t)
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		streamHeaders(w)
		streamWrite(w, streamChunkHello)
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Second):
		}
		streamWrite(w, streamChunkLo, streamChunkFinal, "[DONE]")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan struct{})
	var once atomic.Bool
	go func() {
		<-first
		cancel()
	}()
	start := time.Now()
	out, err := c.ChatStream(ctx, ChatRequest{Model: "m"}, func(Delta) error {
		if once.CompareAndSwap(false, true) {
			close(first)
		}
		return nil
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ChatStream returned %v after cancellation, want promptly", d)
	}
	if out != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("out=%+v err=%v, want an error wrapping context.Canceled", out, err)
	}
	if !once.Load() {
		t.Error("the first delta never arrived")
	}
}

func TestStreamChatStreamTimeout(t *testing.T) {
	fake, _ := chatFake(t)
	fake.Handle("POST "+chatPath, func(w http.ResponseWriter, r *http.Request) {
		streamHeaders(w)
		streamWrite(w, streamChunkHello)
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	})
	c := New(Config{BaseURL: fake.URL, APIKey: chatKey, Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := c.ChatStream(context.Background(), ChatRequest{Model: "m"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
}
