package nanogpt

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CodeInvalidResponse is the APIError code of an answer that is not what
// NanoGPT documents: a body that does not decode, a completion without
// choices, a finished job without its result.
const CodeInvalidResponse = "invalid_response"

// maxErrorBody caps how much of an error body is read.
const maxErrorBody = 64 << 10

// APIError is an error answer from NanoGPT: a non-2xx status, a failed job, or
// an error frame inside a stream.
type APIError struct {
	Status     int           // HTTP status (0 when not from an HTTP status line)
	Code       string        // NanoGPT's machine code, e.g. "insufficient_balance", "model_not_found"
	Type       string        // error type, e.g. "invalid_request_error"
	Message    string        // NanoGPT's human message
	Param      string        // the offending parameter, when NanoGPT names one
	RetryAfter time.Duration // from the Retry-After header, when present
	RequestID  string        // X-Request-ID, for support
	Refund     string        // what NanoGPT says of a refund (refundMessage, video), when it does
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("nanogpt: ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	} else {
		b.WriteString("error")
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// parseAPIError reads NanoGPT's three error envelopes, and non-JSON bodies:
//
//	{"error":{"message":"…","type":"…","code":"…","param":"…"}}   OpenAI style (code may be a number)
//	{"error":"Insufficient balance","requiredBalance":0.0035,"status":402}   legacy
//	{"error":402,"message":"…"}   OAS Error schema; also {"code":"rate_limited","message":"…"}
//	{"error":{"message":"…","type":"CONTENT_POLICY_VIOLATION"},"refundMessage":"…"}   video (E5)
func parseAPIError(status int, h http.Header, body []byte) *APIError {
	e := &APIError{Status: status, RequestID: h.Get("X-Request-ID"), RetryAfter: parseRetryAfter(h.Get("Retry-After"), time.Now())}
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Code    json.RawMessage `json:"code"`
		Type    string          `json:"type"`
		Refund  string          `json:"refundMessage"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		e.Message = snippet(body)
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
		return e
	}
	var obj struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
		Param   string          `json:"param"`
		Parm    string          `json:"parameter"` // /api/v1/images (E6)
	}
	var str string
	e.Refund = env.Refund
	switch {
	case len(env.Error) > 0 && env.Error[0] == '{' && json.Unmarshal(env.Error, &obj) == nil:
		e.Message, e.Type, e.Code, e.Param = obj.Message, obj.Type, rawCode(obj.Code), cmp.Or(obj.Param, obj.Parm)
		if e.Code == "" && e.Type != "" && e.Type == strings.ToUpper(e.Type) {
			e.Code = strings.ToLower(e.Type) // video's E5: the upper-case type is the code (CONTENT_POLICY_VIOLATION)
		}
	case len(env.Error) > 0 && json.Unmarshal(env.Error, &str) == nil:
		e.Message = str
	}
	if e.Message == "" {
		e.Message = env.Message
	}
	if e.Code == "" {
		e.Code = rawCode(env.Code)
	}
	if e.Type == "" {
		e.Type = env.Type
	}
	if e.Message == "" {
		if s := snippet(body); s != "{}" && s != "" {
			e.Message = s
		} else {
			e.Message = http.StatusText(status)
		}
	}
	return e
}

// maxRetryAfter is the longest Retry-After believed (about 116 days); a longer
// or unreadable one is ignored.
const maxRetryAfter = 1e7 * time.Second

// parseRetryAfter reads delta-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !(secs > 0 && secs <= maxRetryAfter.Seconds()) { // also refuses NaN
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) && t.Sub(now) <= maxRetryAfter {
		return t.Sub(now)
	}
	return 0
}

// jsonProblem describes why a body did not decode, briefly: encoding/json's
// type errors spell out whole Go struct types, which help no reader.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%s is a JSON %s of the wrong kind", te.Field, te.Value)
		}
		return fmt.Sprintf("a JSON %s where another kind of value belongs", te.Value)
	}
	return err.Error()
}

// snippet returns a short, printable excerpt of a body for messages.
func snippet(body []byte) string {
	const max = 300
	s := strings.TrimSpace(string(body))
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
