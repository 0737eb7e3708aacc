package nanogpt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
)

// ChatRequest is the body of POST /api/v1/chat/completions.
type ChatRequest struct {
	Model          string          `json:"model"`
	Messages       []Message       `json:"messages"`
	Stream         bool            `json:"stream,omitempty"`
	StreamOptions  *StreamOptions  `json:"stream_options,omitempty"`
	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
	Sampling
}

// Sampling holds the sampling and decoding controls of a chat request, under
// their wire names. Optional numbers are pointers: nil is not sent, and a
// pointer to 0 is sent as 0.
//
// The ask tool's parameters convert to it (tools.Sampling has the same fields
// with the tool's names), so a new control is a field here and there, and the
// compiler refuses the conversion until both agree.
type Sampling struct {
	FrequencyPenalty    *float64           `json:"frequency_penalty,omitempty"`
	LogitBias           map[string]float64 `json:"logit_bias,omitempty"`
	Logprobs            *bool              `json:"logprobs,omitempty"`
	MaxCompletionTokens *int               `json:"max_completion_tokens,omitempty"`
	MaxTokens           *int               `json:"max_tokens,omitempty"`
	PresencePenalty     *float64           `json:"presence_penalty,omitempty"`
	ReasoningEffort     string             `json:"reasoning_effort,omitempty"`
	Seed                *int64             `json:"seed,omitempty"`
	Stop                []string           `json:"stop,omitempty"`
	Temperature         *float64           `json:"temperature,omitempty"`
	TopLogprobs         *int               `json:"top_logprobs,omitempty"`
	TopK                *int               `json:"top_k,omitempty"`
	TopP                *float64           `json:"top_p,omitempty"`
	Verbosity           string             `json:"verbosity,omitempty"`
	User                string             `json:"user,omitempty"`
	MinP                *float64           `json:"min_p,omitempty"`
	MinTokens           *int               `json:"min_tokens,omitempty"`
	MirostatMode        *int               `json:"mirostat_mode,omitempty"`
	MirostatTau         *float64           `json:"mirostat_tau,omitempty"`
	MirostatEta         *float64           `json:"mirostat_eta,omitempty"`
	RepetitionPenalty   *float64           `json:"repetition_penalty,omitempty"`
	TFS                 *float64           `json:"tfs,omitempty"`
	TopA                *float64           `json:"top_a,omitempty"`
	TypicalP            *float64           `json:"typical_p,omitempty"`
}

// StreamOptions asks for usage on the final chunk of a stream.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is one chat message. With Parts nil the content is sent as the plain
// string Text; otherwise as an array of content parts.
type Message struct {
	Role  string
	Text  string
	Parts []ContentPart
}

// MarshalJSON writes {"role":…,"content":string|[parts]}.
func (m Message) MarshalJSON() ([]byte, error) {
	if m.Parts == nil {
		return json.Marshal(struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		}{m.Role, m.Text})
	}
	return json.Marshal(struct {
		Role    string        `json:"role"`
		Content []ContentPart `json:"content"`
	}{m.Role, m.Parts})
}

// ContentPart is a text or image_url part of a message.
type ContentPart struct {
	Type     string    `json:"type"` // "text" or "image_url"
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// ImageURL is an https URL or a data: URL.
type ImageURL struct {
	URL string `json:"url"`
}

// TextPart and ImagePart build content parts.
func TextPart(s string) ContentPart { return ContentPart{Type: "text", Text: s} }

// ImagePart builds an image_url part from an https or data: URL.
func ImagePart(url string) ContentPart {
	return ContentPart{Type: "image_url", ImageURL: &ImageURL{URL: url}}
}

// ResponseFormat is {"type":"text"|"json_object"|"json_schema", "json_schema":{…}}.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the json_schema member of a response_format.
type JSONSchema struct {
	Name   string          `json:"name"`
	Strict bool            `json:"strict"`
	Schema json.RawMessage `json:"schema"`
}

// ChatResponse is a chat completion, streamed or not.
type ChatResponse struct {
	ID      string   `json:"id"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage,omitempty"`
	Pricing *Pricing `json:"x_nanogpt_pricing,omitempty"`
}

// Choice is one completion choice.
type Choice struct {
	Index        int             `json:"index"`
	Message      ChoiceMessage   `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// ChoiceMessage is the assistant's message. Reasoning arrives as "reasoning"
// on /api/v1 and as "reasoning_content" on the legacy variant; both are read.
type ChoiceMessage struct {
	Role             string `json:"role"`
	Content          string `json:"content"`
	Reasoning        string `json:"reasoning,omitempty"`
	ReasoningContent string `json:"reasoning_content,omitempty"`
}

// Usage counts tokens.
type Usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details,omitempty"`
}

// Pricing is NanoGPT's x_nanogpt_pricing: what the call cost. Unknown keys are ignored.
type Pricing struct {
	Cost          *float64 `json:"cost,omitempty"`
	Amount        *float64 `json:"amount,omitempty"`
	Currency      string   `json:"currency,omitempty"`
	PaymentSource string   `json:"paymentSource,omitempty"`
	InputTokens   int      `json:"inputTokens,omitempty"`
	OutputTokens  int      `json:"outputTokens,omitempty"`
	CacheCost     *float64 `json:"cacheCost,omitempty"`
}

// First returns the first choice, or a zero Choice when there is none.
func (r *ChatResponse) First() Choice {
	if len(r.Choices) == 0 {
		return Choice{}
	}
	return r.Choices[0]
}

// ReasoningText returns the reasoning text under either wire name.
func (m ChoiceMessage) ReasoningText() string {
	if m.Reasoning != "" {
		return m.Reasoning
	}
	return m.ReasoningContent
}

const chatPath = "/api/v1/chat/completions"

// Chat sends a non-streaming chat completion.
func (c *Client) Chat(ctx context.Context, req ChatRequest) (_ *ChatResponse, err error) {
	defer c.redact(&err)
	req.Stream, req.StreamOptions = false, nil
	var out ChatResponse
	if err := c.postJSON(ctx, chatPath, req, &out); err != nil {
		return nil, err
	}
	if err := out.check(); err != nil {
		return nil, err
	}
	return &out, nil
}

// check refuses a completion without any choice (choices null or []): there
// is no answer to give, and an empty one would pass for a real reply.
func (r *ChatResponse) check() error {
	if len(r.Choices) == 0 {
		return &APIError{Status: http.StatusOK, Code: CodeInvalidResponse,
			Message: "NanoGPT answered " + chatPath + " without any choice (no answer to return)"}
	}
	return nil
}

// ChatStream sends a streaming chat completion, hands every delta to onDelta as
// it arrives, and returns the assembled response. If onDelta returns an error
// the stream is abandoned and that error returned. If NanoGPT answers with plain
// JSON instead of a stream, that answer is returned (with one final delta).
func (c *Client) ChatStream(ctx context.Context, req ChatRequest, onDelta func(Delta) error) (_ *ChatResponse, err error) {
	defer c.redact(&err)
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req.Stream, req.StreamOptions = true, &StreamOptions{IncludeUsage: true}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("nanogpt: encode chat request: %w", err)
	}
	hreq, err := c.newRequest(ctx, http.MethodPost, chatPath, bytes.NewReader(body), "application/json")
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", "text/event-stream")
	resp, err := c.send(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		var out ChatResponse
		if err := decodeJSON(resp, chatPath, &out); err != nil {
			return nil, err
		}
		if err := out.check(); err != nil {
			return nil, err
		}
		if onDelta != nil {
			if err := onDelta(Delta{Content: out.First().Message.Content, Reasoning: out.First().Message.ReasoningText()}); err != nil {
				return nil, err
			}
		}
		return &out, nil
	}
	out, err := readChatStream(resp.Body, onDelta)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("nanogpt: chat stream: %w", ctxErr)
		}
		return nil, err
	}
	return out, nil
}
