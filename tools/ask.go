package tools

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
)

// Limits on ask attachments. NanoGPT caps a chat body at 32 MiB.
const (
	maxImageBytes = 10 << 20 // one image, before base64
	maxTextBytes  = 1 << 20  // one inlined text file
)

// imageTypes are the image types NanoGPT accepts in chat.
var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/jpg": true, "image/webp": true, "image/gif": true}

// AskInput is the input of the ask tool: the reference component's parameters.
type AskInput struct {
	Model        string       `json:"model" jsonschema:"minLength=1" jsonschema_description:"NanoGPT model id (see listModels)."`
	UserPrompt   string       `json:"userPrompt,omitempty" jsonschema_description:"The prompt (SIMPLE). Give userPrompt or messages."`
	Format       string       `json:"format,omitempty" jsonschema:"enum=SIMPLE,enum=ADVANCED" jsonschema_description:"SIMPLE (userPrompt) or ADVANCED (messages); inferred when omitted."`
	SystemPrompt string       `json:"systemPrompt,omitempty" jsonschema_description:"System prompt (SIMPLE); sent first."`
	Attachments  []FileEntry  `json:"attachments,omitempty" jsonschema_description:"Files for the prompt (SIMPLE): images (vision models) or text files (inlined)."`
	Messages     []AskMessage `json:"messages,omitempty" jsonschema_description:"The conversation, in order (ADVANCED)."`
	Response     *AskResponse `json:"response,omitempty" jsonschema_description:"Answer format."`
	Sampling
}

// Sampling is ask's sampling and decoding parameters. It has the fields of
// nanogpt.Sampling, with the tool's names and schema: the conversion
// nanogpt.Sampling(in.Sampling) compiles only while the two agree, so a new
// parameter is one field in each.
type Sampling struct {
	FrequencyPenalty    *float64           `json:"frequencyPenalty,omitempty" jsonschema:"minimum=-2,maximum=2" jsonschema_description:"Penalize tokens by frequency."`
	LogitBias           map[string]float64 `json:"logitBias,omitempty" jsonschema_description:"Token id to bias (-100 to 100)."`
	Logprobs            *bool              `json:"logprobs,omitempty" jsonschema_description:"Return token log probabilities."`
	MaxCompletionTokens *int               `json:"maxCompletionTokens,omitempty" jsonschema:"minimum=1" jsonschema_description:"Max completion tokens, reasoning included."`
	MaxTokens           *int               `json:"maxTokens,omitempty" jsonschema:"minimum=1" jsonschema_description:"Max tokens to generate."`
	PresencePenalty     *float64           `json:"presencePenalty,omitempty" jsonschema:"minimum=-2,maximum=2" jsonschema_description:"Penalize tokens already present."`
	ReasoningEffort     string             `json:"reasoning,omitempty" jsonschema:"enum=none,enum=minimal,enum=low,enum=medium,enum=high,enum=xhigh" jsonschema_description:"Reasoning effort (reasoning models)."`
	Seed                *int64             `json:"seed,omitempty" jsonschema_description:"Seed for reproducible output."`
	Stop                []string           `json:"stop,omitempty" jsonschema:"maxItems=4" jsonschema_description:"Stop sequences."`
	Temperature         *float64           `json:"temperature,omitempty" jsonschema:"minimum=0,maximum=2" jsonschema_description:"Randomness; lower is more deterministic."`
	TopLogprobs         *int               `json:"topLogprobs,omitempty" jsonschema:"minimum=0,maximum=20" jsonschema_description:"Top tokens per position (with logprobs)."`
	TopK                *int               `json:"topK,omitempty" jsonschema:"minimum=1" jsonschema_description:"Sample from the K likeliest tokens."`
	TopP                *float64           `json:"topP,omitempty" jsonschema:"minimum=0,maximum=1" jsonschema_description:"Nucleus sampling probability mass."`
	Verbosity           string             `json:"verbosity,omitempty" jsonschema:"enum=low,enum=medium,enum=high" jsonschema_description:"Answer length."`
	User                string             `json:"user,omitempty" jsonschema_description:"End-user id, for abuse monitoring."`
	MinP                *float64           `json:"minP,omitempty" jsonschema:"minimum=0,maximum=1" jsonschema_description:"Probability floor for tokens."`
	MinTokens           *int               `json:"minTokens,omitempty" jsonschema:"minimum=0" jsonschema_description:"Min tokens before stopping."`
	MirostatMode        *int               `json:"mirostatMode,omitempty" jsonschema:"enum=0,enum=1,enum=2" jsonschema_description:"Mirostat sampling: 0 off."`
	MirostatTau         *float64           `json:"mirostatTau,omitempty" jsonschema:"minimum=0" jsonschema_description:"Mirostat target entropy."`
	MirostatEta         *float64           `json:"mirostatEta,omitempty" jsonschema:"minimum=0" jsonschema_description:"Mirostat learning rate."`
	RepetitionPenalty   *float64           `json:"repetitionPenalty,omitempty" jsonschema:"exclusiveMinimum=0,maximum=2" jsonschema_description:"Multiplier above 0; above 1 discourages repetition."`
	TFS                 *float64           `json:"tfs,omitempty" jsonschema:"minimum=0,maximum=1" jsonschema_description:"Tail free sampling; 1 disables."`
	TopA                *float64           `json:"topA,omitempty" jsonschema:"minimum=0" jsonschema_description:"Top-A sampling."`
	TypicalP            *float64           `json:"typicalP,omitempty" jsonschema:"minimum=0,maximum=1" jsonschema_description:"Typical sampling mass."`
}

// AskMessage is one message of an ADVANCED conversation.
type AskMessage struct {
	Role        string      `json:"role" jsonschema:"enum=system,enum=user,enum=assistant" jsonschema_description:"Who speaks."`
	Content     string      `json:"content" jsonschema_description:"The text."`
	Attachments []FileEntry `json:"attachments,omitempty" jsonschema_description:"Files (user messages only)."`
}

// AskResponse chooses text or JSON output.
type AskResponse struct {
	ResponseFormat string `json:"responseFormat,omitempty" jsonschema:"enum=TEXT,enum=JSON" jsonschema_description:"TEXT (default) or JSON (also parsed into structured content)."`
	ResponseSchema string `json:"responseSchema,omitempty" jsonschema_description:"With JSON: a JSON Schema, as a string, the answer must follow (strict)."`
}

// AskOutput is the structured result of ask.
type AskOutput struct {
	Answer       string          `json:"answer" jsonschema_description:"The model's answer."`
	JSON         map[string]any  `json:"json,omitempty" jsonschema:"type=object" jsonschema_description:"The answer parsed as JSON (JSON responses only)."`
	Model        string          `json:"model" jsonschema_description:"The model that answered."`
	FinishReason string          `json:"finishReason,omitempty" jsonschema_description:"Why generation stopped: stop, length, content_filter, tool_calls."`
	Reasoning    string          `json:"reasoning,omitempty" jsonschema_description:"The model's reasoning, when it returned it."`
	Usage        *Usage          `json:"usage,omitempty" jsonschema_description:"Token counts."`
	Cost         *Cost           `json:"cost,omitempty" jsonschema_description:"What the call cost, as NanoGPT reported it."`
	Logprobs     json.RawMessage `json:"logprobs,omitempty" jsonschema:"type=object" jsonschema_description:"Log probabilities, when requested and returned."`
}

// Usage counts tokens.
type Usage struct {
	PromptTokens     int `json:"promptTokens" jsonschema_description:"Tokens in the prompt."`
	CompletionTokens int `json:"completionTokens" jsonschema_description:"Tokens in the completion."`
	TotalTokens      int `json:"totalTokens" jsonschema_description:"All tokens."`
	ReasoningTokens  int `json:"reasoningTokens,omitempty" jsonschema_description:"Completion tokens spent on reasoning."`
	CachedTokens     int `json:"cachedTokens,omitempty" jsonschema_description:"Prompt tokens served from cache."`
}

// Cost is what NanoGPT charged.
type Cost struct {
	Amount        float64 `json:"amount" jsonschema_description:"The amount charged."`
	Currency      string  `json:"currency,omitempty" jsonschema_description:"Currency of the amount, e.g. USD."`
	PaymentSource string  `json:"paymentSource,omitempty" jsonschema_description:"How it was paid, e.g. USD or XNO."`
}

// Ask is the ask tool.
func (toolset) Ask() definition {
	return tool[AskInput, AskOutput]{
		Spec: Spec{
			Name:  "ask",
			Title: "Ask a NanoGPT model",
			Description: "Chat with any NanoGPT text model: a userPrompt (with systemPrompt, attachments) or a messages list. " +
				"Images and text files can be attached; response JSON returns parsed JSON. Returns the answer, model, tokens and cost.",
			Summary:  "chat with any NanoGPT text model (prompt or message list, image and text attachments, JSON output, every sampling parameter)",
			ReadOnly: true,
			Flag:     "ask",
		},
		model: func(in *AskInput) *string { return &in.Model },
		run:   runAsk,
	}
}

func runAsk(ctx context.Context, c *call, in *AskInput) (*AskOutput, []mcp.Content, error) {
	req, err := buildChatRequest(ctx, &c.deps.Files, in)
	if err != nil {
		return nil, nil, err
	}
	var resp *nanogpt.ChatResponse
	if c.progress != nil {
		chars := 0
		c.progress.report("asking "+in.Model, true)
		resp, err = c.client.ChatStream(ctx, req, func(d nanogpt.Delta) error {
			chars += utf8.RuneCountInString(d.Content) + utf8.RuneCountInString(d.Reasoning)
			c.progress.report(fmt.Sprintf("received %d characters", chars), false)
			return nil
		})
	} else {
		resp, err = c.client.Chat(ctx, req)
	}
	if err != nil {
		return nil, nil, err
	}
	return askResult(in, req, resp)
}

// buildChatRequest turns the tool input into NanoGPT's chat request.
func buildChatRequest(ctx context.Context, files *Files, in *AskInput) (nanogpt.ChatRequest, error) {
	req := nanogpt.ChatRequest{Model: in.Model, Sampling: nanogpt.Sampling(in.Sampling)}
	if in.TopLogprobs != nil {
		switch {
		case in.Logprobs == nil: // top_logprobs needs logprobs on; asking for one implies the other
			req.Logprobs = new(true)
		case !*in.Logprobs:
			return req, invalid("topLogprobs: only used with logprobs true (got logprobs false); set logprobs to true or leave topLogprobs out")
		}
	}
	for k, v := range in.LogitBias {
		if v < -100 || v > 100 {
			return req, invalid("logitBias.%s: %g is out of range (allowed: -100 to 100)", k, v)
		}
	}
	format, err := askFormat(in)
	if err != nil {
		return req, err
	}
	if format == "SIMPLE" {
		if in.SystemPrompt != "" {
			req.Messages = append(req.Messages, nanogpt.Message{Role: "system", Text: in.SystemPrompt})
		}
		msg, err := userMessage(ctx, files, "user", in.UserPrompt, in.Attachments, "attachments")
		if err != nil {
			return req, err
		}
		req.Messages = append(req.Messages, msg)
	} else {
		for i, m := range in.Messages {
			param := fmt.Sprintf("messages[%d]", i)
			if len(m.Attachments) > 0 && m.Role != "user" {
				return req, invalid("%s.attachments: only user messages can carry attachments (this one is %s)", param, m.Role)
			}
			msg, err := userMessage(ctx, files, m.Role, m.Content, m.Attachments, param+".attachments")
			if err != nil {
				return req, err
			}
			req.Messages = append(req.Messages, msg)
		}
	}
	if in.Response != nil && in.Response.ResponseFormat == "JSON" {
		rf, err := jsonResponseFormat(in.Response.ResponseSchema)
		if err != nil {
			return req, err
		}
		req.ResponseFormat = rf
	} else if in.Response != nil && in.Response.ResponseSchema != "" {
		return req, invalid("response.responseSchema: only used with response.responseFormat JSON (got %q)", in.Response.ResponseFormat)
	}
	return req, nil
}

// askFormat applies the format rules: SIMPLE needs userPrompt, ADVANCED needs
// messages, and an omitted format is inferred from which one is given.
func askFormat(in *AskInput) (string, error) {
	hasPrompt, hasMessages := in.UserPrompt != "", len(in.Messages) > 0
	format := in.Format
	if format == "" {
		switch {
		case hasPrompt && hasMessages:
			return "", invalid("userPrompt and messages are both given: use userPrompt (format SIMPLE) or messages (format ADVANCED), not both")
		case hasPrompt:
			format = "SIMPLE"
		case hasMessages:
			format = "ADVANCED"
		default:
			return "", invalid("userPrompt or messages is required: give userPrompt (format SIMPLE) or messages (format ADVANCED)")
		}
	}
	switch format {
	case "SIMPLE":
		if !hasPrompt {
			return "", invalid("userPrompt: required with format SIMPLE (or use format ADVANCED with messages)")
		}
		if hasMessages {
			return "", invalid("messages: not used with format SIMPLE; put the text in userPrompt, or use format ADVANCED")
		}
	case "ADVANCED":
		if !hasMessages {
			return "", invalid("messages: required with format ADVANCED (or use format SIMPLE with userPrompt)")
		}
		if hasPrompt || in.SystemPrompt != "" || len(in.Attachments) > 0 {
			return "", invalid("userPrompt, systemPrompt and attachments belong to format SIMPLE; with ADVANCED put them in messages (system message first, attachments on user messages)")
		}
	}
	return format, nil
}

// userMessage builds a message; with attachments its content becomes parts:
// the text first, then each file (text files inlined, images as image_url).
func userMessage(ctx context.Context, files *Files, role, text string, atts []FileEntry, param string) (nanogpt.Message, error) {
	msg := nanogpt.Message{Role: role, Text: text}
	if len(atts) == 0 {
		return msg, nil
	}
	msg.Parts = []nanogpt.ContentPart{nanogpt.TextPart(text)}
	for i, a := range atts {
		part, err := attachmentPart(ctx, files, a, fmt.Sprintf("%s[%d]", param, i))
		if err != nil {
			return msg, err
		}
		msg.Parts = append(msg.Parts, part)
	}
	return msg, nil
}

func attachmentPart(ctx context.Context, files *Files, a FileEntry, param string) (nanogpt.ContentPart, error) {
	in, err := files.open(ctx, a, param, maxImageBytes)
	if err != nil {
		return nanogpt.ContentPart{}, err
	}
	mt := in.mime
	if in.remote() && mt == "" {
		return nanogpt.ImagePart(in.url), nil // an extensionless https URL: taken to be an image
	}
	switch {
	case imageTypes[mt]:
		if in.remote() {
			return nanogpt.ImagePart(in.url), nil
		}
		return nanogpt.ImagePart(in.dataURL()), nil
	case isTextMIME(mt):
		if in.remote() {
			if in, err = files.load(ctx, a, param, maxTextBytes); err != nil {
				return nanogpt.ContentPart{}, err
			}
		}
		if len(in.data) > maxTextBytes {
			return nanogpt.ContentPart{}, invalid("%s: %s is %s; text attachments may be at most %s", param, in.name, humanBytes(int64(len(in.data))), humanBytes(maxTextBytes))
		}
		if !utf8.Valid(in.data) {
			return nanogpt.ContentPart{}, invalid("%s: %s is not UTF-8 text", param, in.name)
		}
		return nanogpt.TextPart("File: " + in.name + "\n\n" + string(in.data)), nil
	}
	if mt == "" {
		mt = "unknown"
	}
	return nanogpt.ContentPart{}, invalid("%s: %s has type %s, which ask does not support (allowed: images png, jpeg, webp, gif; text files such as txt, md, csv, json, yaml, xml, html and source code)", param, cmp.Or(in.name, "the attachment"), mt)
}

// jsonResponseFormat builds json_schema (strict) from a schema, or json_object.
func jsonResponseFormat(schema string) (*nanogpt.ResponseFormat, error) {
	if strings.TrimSpace(schema) == "" {
		return &nanogpt.ResponseFormat{Type: "json_object"}, nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(schema), &obj); err != nil {
		return nil, invalid("response.responseSchema: not a JSON object (%v); give a JSON Schema as a JSON string, e.g. {\"type\":\"object\",\"properties\":{...}}", err)
	}
	name := "response"
	if t, ok := obj["title"].(string); ok {
		if n := schemaName(t); n != "" {
			name = n
		}
	}
	return &nanogpt.ResponseFormat{Type: "json_schema", JSONSchema: &nanogpt.JSONSchema{Name: name, Strict: true, Schema: json.RawMessage(schema)}}, nil
}

// schemaName keeps the characters OpenAI allows in a json_schema name.
func schemaName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	return b.String()
}

// askResult renders the answer as text plus structured content.
func askResult(in *AskInput, req nanogpt.ChatRequest, resp *nanogpt.ChatResponse) (*AskOutput, []mcp.Content, error) {
	choice := resp.First()
	out := AskOutput{
		Answer:       choice.Message.Content,
		Model:        cmp.Or(resp.Model, in.Model),
		FinishReason: choice.FinishReason,
		Reasoning:    choice.Message.ReasoningText(),
		Logprobs:     choice.Logprobs,
	}
	if string(out.Logprobs) == "null" {
		out.Logprobs = nil
	}
	if u := resp.Usage; u != nil {
		out.Usage = &Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
		if u.CompletionTokensDetails != nil {
			out.Usage.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
		}
		if u.PromptTokensDetails != nil {
			out.Usage.CachedTokens = u.PromptTokensDetails.CachedTokens
		}
	}
	if p := resp.Pricing; p != nil && (p.Cost != nil || p.Amount != nil) {
		amount := p.Cost
		if amount == nil {
			amount = p.Amount
		}
		out.Cost = &Cost{Amount: *amount, Currency: cmp.Or(p.Currency, "USD"), PaymentSource: p.PaymentSource}
	}
	if req.ResponseFormat != nil {
		err := json.Unmarshal([]byte(out.Answer), &out.JSON)
		if err == nil && out.JSON == nil {
			err = errors.New("null")
		}
		if err != nil { // the output schema promises an object
			return nil, nil, &Failure{Code: CodeInvalidJSON,
				Message: fmt.Sprintf("JSON output was requested, but the model's answer is not a JSON object (%v). The answer was:\n%s", err, out.Answer),
				Next:    "Try again, or use a model whose capabilities include structured_output."}
		}
	}
	return &out, []mcp.Content{mcp.NewTextContent(out.Answer), mcp.NewTextContent(askFooter(out))}, nil
}

// askFooter is the short line after the answer: model, tokens, cost.
func askFooter(out AskOutput) string {
	line := "[" + out.Model
	if out.Usage != nil {
		line += fmt.Sprintf(" · %d tokens (%d in, %d out)", out.Usage.TotalTokens, out.Usage.PromptTokens, out.Usage.CompletionTokens)
	}
	if out.Cost != nil {
		line += fmt.Sprintf(" · cost %s %.6g", out.Cost.Currency, out.Cost.Amount)
	}
	if out.FinishReason != "" && out.FinishReason != "stop" {
		line += " · finish reason " + out.FinishReason
	}
	return line + "]"
}
