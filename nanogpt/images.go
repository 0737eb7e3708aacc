package nanogpt

import (
	"context"
	"net/http"
)

// ImageRequest is the body of POST /api/v1/images/generations. Optional numbers
// are pointers: nil is not sent.
type ImageRequest struct {
	Model             string   `json:"model"`
	Prompt            string   `json:"prompt"`
	N                 *int     `json:"n,omitempty"`
	Size              string   `json:"size,omitempty"`
	ResponseFormat    string   `json:"response_format"` // always sent: "url" or "b64_json"
	Seed              *int64   `json:"seed,omitempty"`
	GuidanceScale     *float64 `json:"guidance_scale,omitempty"`
	Strength          *float64 `json:"strength,omitempty"`
	NumInferenceSteps *int     `json:"num_inference_steps,omitempty"`
	User              string   `json:"user,omitempty"`
	ImageDataURL      string   `json:"imageDataUrl,omitempty"` // img2img input, a data: URL
}

// ImageResponse is NanoGPT's answer: the images and what they cost.
type ImageResponse struct {
	Created          int64       `json:"created"`
	Data             []ImageData `json:"data"`
	Cost             *float64    `json:"cost,omitempty"`
	PaymentSource    string      `json:"paymentSource,omitempty"`
	RemainingBalance *float64    `json:"remainingBalance,omitempty"`
}

// ImageData is one image: a signed URL (valid about an hour) or base64 bytes.
// Either can arrive whatever response_format asked for, so handle both.
type ImageData struct {
	URL           string `json:"url,omitempty"`
	B64JSON       string `json:"b64_json,omitempty"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

const imagesPath = "/api/v1/images/generations"

// CreateImage generates images. An empty ResponseFormat is sent as "url" (NanoGPT's
// own default is b64_json, so the format is always sent explicitly). Items with
// neither a URL nor base64 data are dropped; an answer without any usable image is an *APIError with Code "invalid_response".
func (c *Client) CreateImage(ctx context.Context, req ImageRequest) (*ImageResponse, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if req.ResponseFormat == "" {
		req.ResponseFormat = "url"
	}
	var out ImageResponse
	if err := c.postJSON(ctx, imagesPath, req, &out); err != nil {
		return nil, err
	}
	usable := out.Data[:0]
	for _, d := range out.Data {
		if d.URL != "" || d.B64JSON != "" {
			usable = append(usable, d)
		}
	}
	out.Data = usable
	if len(out.Data) == 0 {
		return nil, &APIError{Status: http.StatusOK, Code: "invalid_response",
			Message: "NanoGPT answered " + imagesPath + " without any image"}
	}
	return &out, nil
}
