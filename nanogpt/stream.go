package nanogpt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrStreamTruncated reports a stream that ended without its [DONE] marker.
var ErrStreamTruncated = errors.New("nanogpt: stream ended before [DONE]")

// maxEventSize caps one server-sent event; a larger one is an error, not an allocation.
const maxEventSize = 4 << 20

// Delta is the text one stream chunk added.
type Delta struct {
	Content   string
	Reasoning string
}

// streamChunk is one chat.completion.chunk.
type streamChunk struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role             string `json:"role"`
			Content          string `json:"content"`
			Reasoning        string `json:"reasoning"`
			ReasoningContent string `json:"reasoning_content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
		Logprobs     *struct {
			Content []json.RawMessage `json:"content"`
		} `json:"logprobs"`
	} `json:"choices"`
	Usage   *Usage          `json:"usage"`
	Pricing *Pricing        `json:"x_nanogpt_pricing"`
	Error   json.RawMessage `json:"error"`
}

// readEvents calls fn with the data of each server-sent event: the event's
// data: lines joined with "\n". Comments and other fields are skipped.
func readEvents(r io.Reader, fn func(data string) (stop bool, err error)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventSize)
	var data strings.Builder
	has := false
	dispatch := func() (bool, error) {
		if !has {
			return false, nil
		}
		d := data.String()
		data.Reset()
		has = false
		return fn(d)
	}
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if stop, err := dispatch(); stop || err != nil {
				return err
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		if field != "data" {
			continue // comment (":…"), event:, id:, retry:
		}
		value = strings.TrimPrefix(value, " ")
		if has {
			data.WriteByte('\n')
		}
		if data.Len()+len(value) > maxEventSize {
			return fmt.Errorf("nanogpt: stream event larger than %d bytes", maxEventSize)
		}
		data.WriteString(value)
		has = true
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("nanogpt: stream line larger than %d bytes", maxEventSize)
		}
		return &TransportError{Op: "read chat stream", Err: err}
	}
	// The stream ended inside an event (no blank line after it). It is handed
	// over in case it is a complete final frame such as [DONE]; if it fails,
	// that is because the stream was cut, so the error says truncated too.
	if stop, err := dispatch(); err != nil {
		return fmt.Errorf("%w: incomplete last event: %w", ErrStreamTruncated, err)
	} else if stop {
		return nil
	}
	return ErrStreamTruncated
}

// readChatStream assembles a chat completion from a stream of chunks.
func readChatStream(r io.Reader, onDelta func(Delta) error) (*ChatResponse, error) {
	var (
		out       ChatResponse
		content   strings.Builder
		reasoning strings.Builder
		finish    string
		logprobs  []json.RawMessage
		choices   int // chunks that carried the first choice
	)
	err := readEvents(r, func(data string) (bool, error) {
		if strings.TrimSpace(data) == "[DONE]" {
			return true, nil
		}
		var ch streamChunk
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			return false, &APIError{Code: CodeInvalidResponse, Message: fmt.Sprintf("malformed stream chunk (%s): %s", jsonProblem(err), snippet([]byte(data)))}
		}
		if len(ch.Error) > 0 && !bytes.Equal(ch.Error, []byte("null")) {
			return false, streamError(ch.Error)
		}
		if ch.ID != "" {
			out.ID = ch.ID
		}
		if ch.Model != "" {
			out.Model = ch.Model
		}
		if ch.Usage != nil {
			out.Usage = ch.Usage
		}
		if ch.Pricing != nil {
			out.Pricing = ch.Pricing
		}
		for _, c := range ch.Choices {
			if c.Index != 0 {
				continue
			}
			choices++
			d := Delta{Content: c.Delta.Content, Reasoning: c.Delta.Reasoning + c.Delta.ReasoningContent}
			content.WriteString(d.Content)
			reasoning.WriteString(d.Reasoning)
			if c.FinishReason != nil && *c.FinishReason != "" {
				finish = *c.FinishReason
			}
			if c.Logprobs != nil {
				logprobs = append(logprobs, c.Logprobs.Content...)
			}
			if onDelta != nil && (d.Content != "" || d.Reasoning != "") {
				if err := onDelta(d); err != nil {
					return false, err
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if choices == 0 {
		return nil, &APIError{Status: http.StatusOK, Code: CodeInvalidResponse,
			Message: "NanoGPT's stream from " + chatPath + " carried no choice (no answer to return)"}
	}
	choice := Choice{Message: ChoiceMessage{Role: "assistant", Content: content.String(), Reasoning: reasoning.String()}, FinishReason: finish}
	if logprobs != nil {
		choice.Logprobs, _ = json.Marshal(map[string]any{"content": logprobs})
	}
	out.Choices = []Choice{choice}
	return &out, nil
}

// streamError turns a mid-stream error frame into an APIError.
func streamError(raw json.RawMessage) *APIError {
	var e struct {
		Status  int             `json:"status"`
		Message string          `json:"message"`
		Code    json.RawMessage `json:"code"`
		Type    string          `json:"type"`
	}
	if json.Unmarshal(raw, &e) != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			e.Message = s
		} else {
			e.Message = snippet(raw)
		}
	}
	if e.Message == "" {
		e.Message = "the stream reported an error"
	}
	return &APIError{Status: e.Status, Code: rawCode(e.Code), Type: e.Type, Message: "mid-stream: " + e.Message}
}
