package tools

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
)

// CreateSpeechInput is the input of createSpeech.
type CreateSpeechInput struct {
	Model          string   `json:"model" jsonschema:"minLength=1" jsonschema_description:"NanoGPT speech model id, e.g. tts-1, Kokoro-82m (see listModels)."`
	Input          string   `json:"input" jsonschema:"minLength=1" jsonschema_description:"Text to speak."`
	Voice          string   `json:"voice,omitempty" jsonschema_description:"Voice, model-specific (e.g. nova, af_bella, Rachel)."`
	ResponseFormat string   `json:"responseFormat,omitempty" jsonschema:"enum=mp3,enum=wav,enum=opus,enum=aac,enum=flac,enum=pcm" jsonschema_description:"Audio format (OpenAI models)."`
	Speed          *float64 `json:"speed,omitempty" jsonschema:"minimum=0.1,maximum=5" jsonschema_description:"Speed (not gpt-4o-mini-tts)."`
	Output         string   `json:"output,omitempty" jsonschema:"enum=auto,enum=inline,enum=file,enum=url" jsonschema_description:"Where audio goes: inline, file, url, or auto (inline if small)."`
	Wait           *int     `json:"wait,omitempty" jsonschema:"minimum=0,maximum=600" jsonschema_description:"Seconds to wait for a slow model's job before returning its id for getJob (default 50)."`
}

// CreateSpeechOutput is the reference component's output {file, audioUrl}, plus
// where the audio went and its cost.
type CreateSpeechOutput struct {
	Pending
	File     FileEntry `json:"file,omitempty,omitzero" jsonschema_description:"The generated audio file: url is its file:// path when saved, else NanoGPT's URL, else empty (inline only)."`
	AudioURL string    `json:"audioUrl,omitempty" jsonschema_description:"NanoGPT's URL for the audio, when it gave one."`
	Audio    Delivered `json:"audio,omitempty,omitzero" jsonschema_description:"Where the audio went."`
	Model    string    `json:"model" jsonschema_description:"The model used."`
	Cost     *float64  `json:"cost,omitempty" jsonschema_description:"What the call cost, when NanoGPT reported it."`
	Currency string    `json:"currency,omitempty" jsonschema_description:"Currency or payment source of the cost."`
	RunID    string    `json:"runId,omitempty" jsonschema_description:"NanoGPT's job id, when the speech was made by an asynchronous job."`
}

// CreateSpeech is the createSpeech tool.
func (toolset) CreateSpeech() definition {
	return tool[CreateSpeechInput, CreateSpeechOutput]{
		Spec: Spec{
			Name:  "createSpeech",
			Title: "Create speech with NanoGPT",
			Description: "Text to speech with a NanoGPT model. Returns the audio with its type, size and place, and the cost. " +
				"Slow models are waited for. Paid per character.",
			Summary: "text-to-speech",
			Flag:    "speech",
			Timeout: 10 * time.Minute,
		},
		media:   mediaKind{kind: "audio", expiry: " (NanoGPT does not say how long it lasts; download it soon)"},
		model:   func(in *CreateSpeechInput) *string { return &in.Model },
		wait:    func(in *CreateSpeechInput) *int { return in.Wait },
		run:     runCreateSpeech,
		waitJob: waitCreateSpeech,
	}
}

func runCreateSpeech(ctx context.Context, c *call, in *CreateSpeechInput) (*CreateSpeechOutput, []mcp.Content, error) {
	mode, err := c.deps.Media.resolve(in.Output) // refuse an unavailable mode before paying
	if err != nil {
		return nil, nil, err
	}
	c.progress.report("speaking with "+in.Model, true)
	sp, err := c.client.CreateSpeech(ctx, nanogpt.SpeechRequest{
		Model: in.Model, Input: in.Input, Voice: in.Voice, ResponseFormat: in.ResponseFormat, Speed: in.Speed,
	}, c.poll("speech"))
	if err != nil {
		return nil, nil, err
	}
	return speechResult(ctx, c, in, mode, sp)
}

func waitCreateSpeech(ctx context.Context, c *call, in *CreateSpeechInput, job nanogpt.Job) (*CreateSpeechOutput, []mcp.Content, error) {
	mode, err := c.deps.Media.resolve(in.Output)
	if err != nil {
		return nil, nil, err
	}
	sp, err := c.client.WaitSpeech(ctx, job, c.poll("speech"))
	if err != nil {
		return nil, nil, err
	}
	return speechResult(ctx, c, in, mode, sp)
}

// speechResult delivers the audio and describes it.
func speechResult(ctx context.Context, c *call, in *CreateSpeechInput, mode string, sp *nanogpt.Speech) (*CreateSpeechOutput, []mcp.Content, error) {
	// A generic type (application/octet-stream) says less than the requested format.
	ctype := normMIME(sp.ContentType)
	if !strings.HasPrefix(ctype, "audio/") {
		ctype = ""
	}
	declared := cmp.Or(ctype, extTypes[in.ResponseFormat], "audio/mpeg")
	it := mediaItem{data: sp.Audio, url: sp.AudioURL, mime: mediaType(sp.Audio, declared)}
	blocks, lines, delivered, err := c.deliverer().deliver(ctx, mode, []mediaItem{it})
	if err != nil {
		return nil, nil, err
	}
	dl := delivered[0]
	ext := extOfMIME[dl.MimeType]
	file := FileEntry{Name: "speech." + cmp.Or(ext, "bin"), MimeType: dl.MimeType, Extension: ext, URL: cmp.Or(fileURLOf(dl.Path), sp.AudioURL)}
	if dl.Path != "" {
		file.Name = filepath.Base(dl.Path)
	}
	out := CreateSpeechOutput{File: file, AudioURL: sp.AudioURL, Audio: dl, Model: in.Model, Cost: sp.Cost, Currency: sp.Currency, RunID: sp.RunID}
	summary := fmt.Sprintf("Created speech with %s%s.\n%s", in.Model, costText(sp.Cost, sp.Currency), strings.Join(lines, "\n"))
	return &out, append([]mcp.Content{mcp.NewTextContent(summary)}, blocks...), nil
}
