// Package nanogpttest is a fake NanoGPT for tests: an httptest server that
// checks both auth headers on every request, records what it received, and
// answers with handlers the test registers.
package nanogpttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// JSON decodes the request body into a generic map (fails the call on bad JSON).
func (r Request) JSON() map[string]any {
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		panic(fmt.Sprintf("nanogpttest: request body of %s is not JSON: %v", r.Path, err))
	}
	return m
}

// Server is a fake NanoGPT.
type Server struct {
	*httptest.Server
	// Key is the API key the fake accepts. Requests without both
	// "Authorization: Bearer <Key>" and "x-api-key: <Key>" get a 401.
	Key string

	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	requests []Request
}

// New starts a fake that accepts key. Close it when done.
func New(key string) *Server {
	s := &Server{Key: key, handlers: map[string]http.HandlerFunc{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Handle registers h for "METHOD /path" (no query), replacing any earlier one.
func (s *Server) Handle(pattern string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[pattern] = h
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Last returns the last request to path, and whether there was one.
func (s *Server) Last(path string) (Request, bool) {
	reqs := s.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Path == path {
			return reqs[i], true
		}
	}
	return Request{}, false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	h := s.handlers[r.Method+" "+r.URL.Path]
	s.mu.Unlock()
	if s.Key != "" && !s.authorized(r) && !strings.HasPrefix(r.URL.Path, "/files/") { // storage URLs need no key
		Error(w, http.StatusUnauthorized, `{"error":{"message":"Invalid API key","type":"authentication_error","code":"invalid_api_key"}}`)
		return
	}
	if h == nil {
		Error(w, http.StatusNotFound, fmt.Sprintf(`{"error":{"message":"no route %s %s in the fake","type":"invalid_request_error","code":"not_found"}}`, r.Method, r.URL.Path))
		return
	}
	h(w, r)
}

// authorized requires both auth headers, as the client must send them.
func (s *Server) authorized(r *http.Request) bool {
	return r.Header.Get("Authorization") == "Bearer "+s.Key && r.Header.Get("x-api-key") == s.Key
}

// Error writes a JSON error body with status.
func Error(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// JSON writes v as a JSON 200 answer.
func JSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// ChatCompletion is a non-streaming completion answer with content, usage and pricing.
func ChatCompletion(model, content string) map[string]any {
	return map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": 1769278225, "model": model,
		"choices":           []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}},
		"usage":             map[string]any{"prompt_tokens": 9, "completion_tokens": 20, "total_tokens": 29},
		"x_nanogpt_pricing": map[string]any{"cost": 0.000169, "inputTokens": 9, "outputTokens": 20, "paymentSource": "USD"},
	}
}

// ChatHandler answers every chat completion: a stream when the request asks for
// one (each word of content as a chunk, then usage and [DONE]), JSON otherwise.
// reply computes the answer from the decoded request.
func ChatHandler(reply func(req map[string]any) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			Error(w, http.StatusBadRequest, `{"error":{"message":"body is not JSON","type":"invalid_request_error"}}`)
			return
		}
		model, _ := req["model"].(string)
		content := reply(req)
		if stream, _ := req["stream"].(bool); !stream {
			JSON(w, ChatCompletion(model, content))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, word := range strings.SplitAfter(content, " ") {
			chunk := map[string]any{"id": "chatcmpl-fake", "model": model, "choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": word}, "finish_reason": nil}}}
			b, _ := json.Marshal(chunk)
			fmt.Fprintf(w, "data: %s\n\n", b)
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		final := ChatCompletion(model, "")
		final["choices"] = []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": "stop"}}
		b, _ := json.Marshal(final)
		fmt.Fprintf(w, "data: %s\n\ndata: [DONE]\n\n", b)
	}
}
