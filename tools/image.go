package tools

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
)

// maxInputImageBytes keeps an img2img input under NanoGPT's 4 MB limit once base64-encoded.
const maxInputImageBytes = 3 << 20

// CreateImageInput is the input of createImage.
type CreateImageInput struct {
	Model             string         `json:"model" jsonschema:"minLength=1" jsonschema_description:"NanoGPT image model id (see listModels)."`
	ImageMessages     []ImageMessage `json:"imageMessages" jsonschema:"minItems=1" jsonschema_description:"Prompt parts. Positive weights (default 1) join heaviest first; weight <= 0 adds an 'Avoid:' line."`
	Size              string         `json:"size,omitempty" jsonschema:"enum=256x256,enum=512x512,enum=1024x1024" jsonschema_description:"Image size."`
	ResponseFormat    string         `json:"responseFormat,omitempty" jsonschema:"enum=url,enum=b64_json" jsonschema_description:"Signed URL (expires in about 1 h) or base64."`
	N                 *int           `json:"n,omitempty" jsonschema:"minimum=1,maximum=10" jsonschema_description:"Number of images; all are returned."`
	Seed              *int64         `json:"seed,omitempty" jsonschema_description:"Seed for reproducible images."`
	GuidanceScale     *float64       `json:"guidanceScale,omitempty" jsonschema:"minimum=0,maximum=20" jsonschema_description:"How closely to follow the prompt."`
	Strength          *float64       `json:"strength,omitempty" jsonschema:"minimum=0,maximum=1" jsonschema_description:"With inputImage: how far to move from it."`
	NumInferenceSteps *int           `json:"numInferenceSteps,omitempty" jsonschema:"minimum=1,maximum=100" jsonschema_description:"Denoising steps."`
	User              string         `json:"user,omitempty" jsonschema_description:"End-user id, for abuse monitoring."`
	InputImage        *FileEntry     `json:"inputImage,omitempty" jsonschema_description:"Image to transform (png, jpeg, webp, gif; at most 3 MB)."`
	Output            string         `json:"output,omitempty" jsonschema:"enum=auto,enum=inline,enum=file,enum=url" jsonschema_description:"Where images go: inline, file, url, or auto (inline if small)."`
}

// ImageMessage is one part of the image prompt.
type ImageMessage struct {
	Content string   `json:"content" jsonschema:"minLength=1" jsonschema_description:"Text."`
	Weight  *float64 `json:"weight,omitempty" jsonschema_description:"Emphasis; <= 0 means avoid. Default 1."`
}

// CreateImageOutput is the structured result of createImage.
type CreateImageOutput struct {
	Images           []Delivered `json:"images" jsonschema_description:"Every generated image, in order, with where it went."`
	Prompt           string      `json:"prompt" jsonschema_description:"The prompt sent to NanoGPT, built from imageMessages."`
	Model            string      `json:"model" jsonschema_description:"The model used."`
	Cost             *float64    `json:"cost,omitempty" jsonschema_description:"What the call cost, as NanoGPT reported it."`
	PaymentSource    string      `json:"paymentSource,omitempty" jsonschema_description:"How it was paid, e.g. USD."`
	RemainingBalance *float64    `json:"remainingBalance,omitempty" jsonschema_description:"The balance left after the call, when reported."`
}

// CreateImage is the createImage tool.
func (toolset) CreateImage() definition {
	return tool[CreateImageInput, CreateImageOutput]{
		Spec: Spec{
			Name:  "createImage",
			Title: "Create images with NanoGPT",
			Description: "Generate images with a NanoGPT image model, or transform an inputImage. " +
				"Returns every image, with a line on its type, size and place, and the cost. Paid per image.",
			Summary: "text-to-image and image-to-image",
			Flag:    "image",
			Timeout: 10 * time.Minute,
		},
		media: mediaKind{kind: "image", expiry: " (NanoGPT's signed URLs expire after about an hour)"},
		model: func(in *CreateImageInput) *string { return &in.Model },
		run:   runCreateImage,
	}
}

// imagePrompt turns weighted messages into one prompt (see ImageMessages'
// description). ok is false when no message has a positive weight.
func imagePrompt(msgs []ImageMessage) (prompt string, ok bool) {
	type weighted struct {
		text string
		w    float64
	}
	var pos []weighted
	var avoid []string
	for _, m := range msgs {
		w := 1.0
		if m.Weight != nil {
			w = *m.Weight
		}
		text := strings.TrimSpace(m.Content)
		if w > 0 {
			pos = append(pos, weighted{text, w})
		} else {
			avoid = append(avoid, text)
		}
	}
	sort.SliceStable(pos, func(i, j int) bool { return pos[i].w > pos[j].w })
	lines := make([]string, 0, len(pos)+1)
	for _, p := range pos {
		lines = append(lines, p.text)
	}
	if len(avoid) > 0 {
		lines = append(lines, "Avoid: "+strings.Join(avoid, "; "))
	}
	return strings.Join(lines, "\n"), len(pos) > 0
}

func runCreateImage(ctx context.Context, c *call, in *CreateImageInput) (*CreateImageOutput, []mcp.Content, error) {
	prompt, ok := imagePrompt(in.ImageMessages)
	if !ok {
		return nil, nil, invalid("imageMessages: at least one message needs a positive weight (weights of 0 or below only say what to avoid)")
	}
	mode, err := c.deps.Media.resolve(in.Output) // refuse an unavailable mode before paying
	if err != nil {
		return nil, nil, err
	}
	req := nanogpt.ImageRequest{
		Model: in.Model, Prompt: prompt, N: in.N, Size: in.Size, ResponseFormat: in.ResponseFormat, Seed: in.Seed,
		GuidanceScale: in.GuidanceScale, Strength: in.Strength, NumInferenceSteps: in.NumInferenceSteps, User: in.User,
	}
	if in.InputImage != nil {
		img, err := c.deps.Files.load(ctx, *in.InputImage, "inputImage", maxInputImageBytes)
		if err != nil {
			return nil, nil, err
		}
		if req.ImageDataURL, err = imageDataURL(img, "inputImage"); err != nil {
			return nil, nil, err
		}
	} else if in.Strength != nil {
		return nil, nil, invalid("strength: only used with inputImage (image-to-image); give inputImage or leave strength out")
	}
	// url mode wants NanoGPT's URLs; so does auto on a hosted server, where
	// images too big to inline go back as URLs (bytes would have to go
	// inline). Otherwise the bytes: NanoGPT's own default.
	if req.ResponseFormat == "" && (mode == OutputURL || (mode == OutputAuto && c.deps.Media.Hosted)) {
		req.ResponseFormat = nanogpt.ImageFormatURL
	}
	c.progress.report("generating with "+in.Model, true)
	resp, err := c.client.CreateImage(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	items := make([]mediaItem, 0, len(resp.Data))
	for i, d := range resp.Data {
		it := mediaItem{url: d.URL, mime: "image/png"}
		if d.Bytes != nil || d.B64JSON != "" {
			data := d.Bytes // decoded as the answer was read
			if data == nil {
				var err error
				if data, err = base64.StdEncoding.DecodeString(d.B64JSON); err != nil {
					return nil, nil, &nanogpt.APIError{Code: nanogpt.CodeInvalidResponse, Message: fmt.Sprintf("image %d is not valid base64: %v", i+1, err)}
				}
			}
			it.data = data
			it.mime = mediaType(data, "image/png")
		} else if ext := extTypes[strings.TrimPrefix(strings.ToLower(pathExt(d.URL)), ".")]; strings.HasPrefix(ext, "image/") {
			it.mime = ext
		}
		items = append(items, it)
	}
	blocks, lines, delivered, err := c.deliverer().deliver(ctx, mode, items)
	if err != nil {
		return nil, nil, err
	}
	out := CreateImageOutput{Images: delivered, Prompt: prompt, Model: in.Model, Cost: resp.Cost, PaymentSource: resp.PaymentSource, RemainingBalance: resp.RemainingBalance}
	summary := fmt.Sprintf("Created %d image(s) with %s%s.", len(items), in.Model, costText(resp.Cost, resp.PaymentSource))
	if resp.RemainingBalance != nil {
		summary += fmt.Sprintf(" Remaining balance: %.6g.", *resp.RemainingBalance)
	}
	return &out, append([]mcp.Content{mcp.NewTextContent(summary + "\n" + strings.Join(lines, "\n"))}, blocks...), nil
}

// imageDataURL is an input image as a data: URL. The bytes decide its type:
// every allowed type is recognisable by its content, and a name or label
// alone must not pass text off as an image.
func imageDataURL(img *input, param string) (string, error) {
	sniffed := normMIME(http.DetectContentType(img.data))
	if !imageTypes[sniffed] {
		return "", invalid("%s: %s is not a png, jpeg, webp or gif image (declared %s, content looks like %s)",
			param, img.name, cmp.Or(img.mime, "no type"), sniffed)
	}
	img.mime = sniffed
	return img.dataURL(), nil
}
