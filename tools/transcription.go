package tools

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
)

// maxUploadBytes is NanoGPT's limit on an uploaded audio file; larger ones go by URL.
const maxUploadBytes = 3 << 20

// audioTypes are the upload types NanoGPT transcribes.
var audioTypes = map[string]bool{
	"audio/mpeg": true, "audio/mp3": true, "audio/wav": true, "audio/x-wav": true, "audio/wave": true,
	"audio/mp4": true, "audio/x-m4a": true, "audio/m4a": true, "audio/ogg": true, "audio/aac": true, "audio/x-aac": true,
}

// CreateTranscriptionInput is the input of createTranscription.
type CreateTranscriptionInput struct {
	Model    string    `json:"model" jsonschema:"minLength=1" jsonschema_description:"NanoGPT transcription model id, e.g. Whisper-Large-V3 (see listModels)."`
	File     FileEntry `json:"file" jsonschema_description:"Audio (MP3, WAV, M4A, OGG, AAC): an https URL up to 500 MB, or a data: URL or local file up to 3 MB."`
	Wait     *int      `json:"wait,omitempty" jsonschema:"minimum=0,maximum=600" jsonschema_description:"Seconds to wait for an asynchronous job before returning its id for getJob (default 50)."`
	Language string    `json:"language,omitempty" jsonschema:"enum=af,enum=am,enum=ar,enum=as,enum=az,enum=ba,enum=be,enum=bg,enum=bn,enum=bo,enum=br,enum=bs,enum=ca,enum=cs,enum=cy,enum=da,enum=de,enum=el,enum=en,enum=es,enum=et,enum=eu,enum=fa,enum=fi,enum=fo,enum=fr,enum=gl,enum=gu,enum=ha,enum=haw,enum=he,enum=hi,enum=hr,enum=ht,enum=hu,enum=hy,enum=id,enum=is,enum=it,enum=ja,enum=jw,enum=ka,enum=kk,enum=km,enum=kn,enum=ko,enum=la,enum=lb,enum=ln,enum=lo,enum=lt,enum=lv,enum=mg,enum=mi,enum=mk,enum=ml,enum=mn,enum=mr,enum=ms,enum=mt,enum=my,enum=ne,enum=nl,enum=nn,enum=no,enum=oc,enum=pa,enum=pl,enum=ps,enum=pt,enum=ro,enum=ru,enum=sa,enum=sd,enum=si,enum=sk,enum=sl,enum=sn,enum=so,enum=sq,enum=sr,enum=su,enum=sv,enum=sw,enum=ta,enum=te,enum=tg,enum=th,enum=tk,enum=tl,enum=tr,enum=tt,enum=uk,enum=ur,enum=uz,enum=vi,enum=yi,enum=yo,enum=yue,enum=zh" jsonschema_description:"Spoken language; detected when omitted."`
}

// dropFiles keeps of the audio, for a job that outlasts its call, only its
// name: a data: URL can be megabytes.
func (in *CreateTranscriptionInput) dropFiles() {
	name := in.File.Name
	if name == "" && !strings.HasPrefix(in.File.URL, "data:") {
		name = path.Base(in.File.URL)
	}
	if len(name) > 200 {
		name = ""
	}
	in.File = FileEntry{Name: cmp.Or(name, "the audio")}
}

// CreateTranscriptionOutput is the structured result of createTranscription.
type CreateTranscriptionOutput struct {
	Pending
	Text        string          `json:"text,omitempty" jsonschema_description:"The transcript."`
	Language    string          `json:"language,omitempty" jsonschema_description:"The language NanoGPT reported."`
	Duration    float64         `json:"durationMinutes,omitempty" jsonschema_description:"The audio's length in minutes, when reported."`
	Model       string          `json:"model" jsonschema_description:"The model used."`
	Cost        *float64        `json:"cost,omitempty" jsonschema_description:"What the call cost, when NanoGPT reported it."`
	Currency    string          `json:"currency,omitempty" jsonschema_description:"Currency of the cost."`
	Words       json.RawMessage `json:"words,omitempty" jsonschema:"type=array" jsonschema_description:"Word timings (and speakers), when the model returned them."`
	Diarization json.RawMessage `json:"diarization,omitempty" jsonschema:"type=object" jsonschema_description:"Speaker segments, when the model returned them."`
	RunID       string          `json:"runId,omitempty" jsonschema_description:"NanoGPT's job id, when the transcription ran as an asynchronous job."`
}

// CreateTranscription is the createTranscription tool.
func (toolset) CreateTranscription() definition {
	return tool[CreateTranscriptionInput, CreateTranscriptionOutput]{
		Spec: Spec{
			Name:  "createTranscription",
			Title: "Transcribe audio with NanoGPT",
			Description: "Transcribe speech with a NanoGPT model. Returns the transcript, language, duration and cost, " +
				"with word timings and speakers when the model gives them. Paid per minute.",
			Summary:  "speech-to-text",
			ReadOnly: true,
			Flag:     "transcription",
			Timeout:  10 * time.Minute,
		},
		model:   func(in *CreateTranscriptionInput) *string { return &in.Model },
		wait:    func(in *CreateTranscriptionInput) *int { return in.Wait },
		run:     runCreateTranscription,
		waitJob: waitCreateTranscription,
	}
}

func runCreateTranscription(ctx context.Context, c *call, in *CreateTranscriptionInput) (*CreateTranscriptionOutput, []mcp.Content, error) {
	req := nanogpt.TranscriptionRequest{Model: in.Model, Language: in.Language}
	src, err := c.deps.Files.open(ctx, in.File, "file", maxUploadBytes)
	if err != nil {
		var f *Failure
		var big *sizeError
		if errors.As(err, &f) && errors.As(err, &big) {
			f.Message += ". NanoGPT takes uploads up to 3 MB: pass the audio as an https:// URL instead (up to 500 MB)"
		}
		return nil, nil, err
	}
	if src.remote() {
		req.AudioURL = src.url
	} else {
		mt := mediaType(src.data, src.mime)
		if !audioTypes[mt] && !audioTypes[src.mime] {
			return nil, nil, invalid("file: %s has type %s, which NanoGPT does not transcribe (allowed: MP3, WAV, M4A, OGG, AAC)", src.name, cmp.Or(mt, "unknown"))
		}
		ctype := mt // the declared type when it is an audio type, else what the bytes are
		if audioTypes[src.mime] {
			ctype = src.mime
		}
		name := src.name
		if ext := extOfMIME[ctype]; path.Ext(name) == "" && ext != "" {
			name += "." + ext // NanoGPT may tell the format by the name: a data: URL is "attachment" otherwise
		}
		src.name = name
		req.Audio, req.FileName, req.ContentType = src.data, name, ctype
	}
	c.progress.report("transcribing with "+in.Model, true)
	tr, err := c.client.Transcribe(ctx, req, c.poll("transcription"))
	if err != nil {
		return nil, nil, err
	}
	return transcriptionResult(in, src.name, tr)
}

func waitCreateTranscription(ctx context.Context, c *call, in *CreateTranscriptionInput, job nanogpt.Job) (*CreateTranscriptionOutput, []mcp.Content, error) {
	tr, err := c.client.WaitTranscription(ctx, job, c.poll("transcription"))
	if err != nil {
		return nil, nil, err
	}
	return transcriptionResult(in, in.File.Name, tr)
}

// transcriptionResult is the transcript, then a line saying what was made.
func transcriptionResult(in *CreateTranscriptionInput, name string, tr *nanogpt.Transcription) (*CreateTranscriptionOutput, []mcp.Content, error) {
	out := CreateTranscriptionOutput{Text: tr.Text, Language: tr.Language, Duration: tr.Duration, Model: in.Model, Cost: tr.Cost,
		Currency: tr.Currency, Words: tr.Words, Diarization: tr.Diarization, RunID: tr.RunID}
	// The transcript comes first, as is; a second block says what was made.
	summary := fmt.Sprintf("Transcribed %s with %s: %d characters of text, above", name, in.Model, len([]rune(tr.Text)))
	if tr.Duration > 0 {
		summary += fmt.Sprintf("; %.3g min of audio", tr.Duration)
	}
	if tr.Language != "" {
		summary += "; language " + tr.Language
	}
	summary += costText(tr.Cost, tr.Currency) + "."
	return &out, []mcp.Content{mcp.NewTextContent(tr.Text), mcp.NewTextContent(summary)}, nil
}
