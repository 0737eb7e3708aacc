package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
)

// maxVideoImageBytes keeps an input image under NanoGPT's 4 MB limit on
// inline uploads once base64-encoded; larger ones go by https URL.
const maxVideoImageBytes = 3 << 20

// CreateVideoInput is the input of createVideo.
type CreateVideoInput struct {
	Model          string     `json:"model" jsonschema:"minLength=1" jsonschema_description:"NanoGPT video model id, e.g. veo2-video, kling-v21-pro (see listModels with kind video)."`
	Prompt         string     `json:"prompt" jsonschema:"minLength=1" jsonschema_description:"What the video shows."`
	InputImage     *FileEntry `json:"inputImage,omitempty" jsonschema_description:"Image to animate (image-to-video): an https URL (NanoGPT fetches it), or a data: URL or local file up to 3 MB."`
	Duration       *int       `json:"duration,omitempty" jsonschema:"minimum=1,maximum=120" jsonschema_description:"Length in seconds; models take some values only (e.g. 5 or 10)."`
	AspectRatio    string     `json:"aspectRatio,omitempty" jsonschema:"enum=16:9,enum=9:16,enum=1:1,enum=3:4,enum=4:3,enum=21:9,enum=auto" jsonschema_description:"Aspect ratio (model-specific)."`
	Resolution     string     `json:"resolution,omitempty" jsonschema:"enum=480p,enum=540p,enum=580p,enum=720p,enum=1080p,enum=1792x1024,enum=2k,enum=4k" jsonschema_description:"Resolution (model-specific)."`
	NegativePrompt string     `json:"negativePrompt,omitempty" jsonschema_description:"What to avoid (some models)."`
	Seed           *int64     `json:"seed,omitempty" jsonschema_description:"Seed, best effort (some models)."`
	GenerateAudio  *bool      `json:"generateAudio,omitempty" jsonschema_description:"Also generate sound (Veo 3 and some others)."`
	Wait           *int       `json:"wait,omitempty" jsonschema:"minimum=0,maximum=600" jsonschema_description:"Seconds to wait for the video before returning the job's id for getJob (default 50; videos take minutes)."`
	Output         string     `json:"output,omitempty" jsonschema:"enum=auto,enum=file,enum=url" jsonschema_description:"Where the video goes: file, url (NanoGPT's), or auto. Videos are never inline."`
}

// dropFiles keeps no input image for a job that outlasts its call: NanoGPT has it.
func (in *CreateVideoInput) dropFiles() { in.InputImage = nil }

// CreateVideoOutput is the structured result of createVideo.
type CreateVideoOutput struct {
	Pending
	Video    Delivered `json:"video,omitempty,omitzero" jsonschema_description:"Where the video went."`
	VideoURL string    `json:"videoUrl,omitempty" jsonschema_description:"NanoGPT's URL for the video (how long it lasts is not documented)."`
	Model    string    `json:"model" jsonschema_description:"The model used."`
	Charged  *float64  `json:"charged,omitempty" jsonschema_description:"What NanoGPT charged when it accepted the job."`
	Cost     *float64  `json:"cost,omitempty" jsonschema_description:"The final cost NanoGPT reported when the video was done."`
	Currency string    `json:"currency,omitempty" jsonschema_description:"Currency or payment source of the costs."`
	RunID    string    `json:"runId,omitempty" jsonschema_description:"NanoGPT's id of the job."`
}

// CreateVideo is the createVideo tool.
func (toolset) CreateVideo() definition {
	return tool[CreateVideoInput, CreateVideoOutput]{
		Spec: Spec{
			Name:  "createVideo",
			Title: "Create a video with NanoGPT",
			Description: "Generate a video from a prompt, or animate an inputImage, with a NanoGPT video model. Videos take minutes: " +
				"when it is not done within wait seconds the result gives a job id for getJob. Paid when the job is accepted; failed jobs are refunded by NanoGPT.",
			Summary: "text-to-video and image-to-video",
			Flag:    "video",
			Timeout: 15 * time.Minute,
		},
		media:   mediaKind{kind: "video", expiry: " (NanoGPT does not say how long it lasts; download it soon)"},
		model:   func(in *CreateVideoInput) *string { return &in.Model },
		wait:    func(in *CreateVideoInput) *int { return in.Wait },
		run:     runCreateVideo,
		waitJob: waitCreateVideo,
	}
}

func runCreateVideo(ctx context.Context, c *call, in *CreateVideoInput) (*CreateVideoOutput, []mcp.Content, error) {
	if _, err := c.deps.Media.resolve(in.Output); err != nil { // refuse an unavailable mode before paying
		return nil, nil, err
	}
	req := nanogpt.VideoRequest{Model: in.Model, Prompt: in.Prompt, AspectRatio: in.AspectRatio, Resolution: in.Resolution,
		NegativePrompt: in.NegativePrompt, Seed: in.Seed, GenerateAudio: in.GenerateAudio}
	if in.Duration != nil {
		req.Duration = strconv.Itoa(*in.Duration)
	}
	if in.InputImage != nil {
		img, err := c.deps.Files.open(ctx, *in.InputImage, "inputImage", maxVideoImageBytes)
		if err != nil {
			return nil, nil, err
		}
		if img.remote() {
			req.ImageURL = img.url // NanoGPT fetches a public https image itself
		} else if req.ImageDataURL, err = imageDataURL(img, "inputImage"); err != nil {
			return nil, nil, err
		}
	}
	c.progress.report("submitting the video to "+in.Model, true)
	job, err := c.client.SubmitVideo(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	return waitCreateVideo(ctx, c, in, job)
}

func waitCreateVideo(ctx context.Context, c *call, in *CreateVideoInput, job nanogpt.Job) (*CreateVideoOutput, []mcp.Content, error) {
	mode, err := c.deps.Media.resolve(in.Output)
	if err != nil {
		return nil, nil, err
	}
	v, err := c.client.WaitVideo(ctx, job, c.poll("video"))
	var je *nanogpt.JobError
	if errors.As(err, &je) {
		f := fromJobError(je)
		f.Next = "NanoGPT's documentation says a failed video job is refunded automatically (checkBalance shows the balance). " +
			"Change the prompt if it was refused, then call again to start a new job."
		return nil, nil, f
	}
	if err != nil {
		return nil, nil, err
	}
	it := mediaItem{url: v.URL, mime: cmp.Or(extTypes[strings.TrimPrefix(strings.ToLower(pathExt(v.URL)), ".")], "video/mp4")}
	blocks, lines, delivered, err := c.deliverer().deliver(ctx, mode, []mediaItem{it})
	if err != nil {
		return nil, nil, err
	}
	dl := delivered[0]
	out := CreateVideoOutput{Video: dl, VideoURL: v.URL, Model: in.Model, Charged: v.Charged, Cost: v.Cost, Currency: v.Currency, RunID: v.RunID}
	summary := fmt.Sprintf("Created a video with %s%s.\n%s", in.Model, costText(cmp.Or(v.Cost, v.Charged), v.Currency), strings.Join(lines, "\n"))
	return &out, append([]mcp.Content{mcp.NewTextContent(summary)}, blocks...), nil
}
