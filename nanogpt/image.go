package nanogpt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
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

// ImageData is one image: a signed URL (valid about an hour) or its bytes.
// Either can arrive whatever response_format asked for, so handle both.
type ImageData struct {
	URL string `json:"url,omitempty"`
	// Bytes is the image of b64_json, decoded while the answer is read: a
	// large image is then held once, as bytes, not also as base64 text.
	Bytes []byte `json:"-"`
	// B64JSON is b64_json as sent, only when it is not plain valid base64
	// (Bytes is then nil), for the caller to report.
	B64JSON       string `json:"b64_json,omitempty"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

// UnmarshalJSON decodes b64_json straight from the answer's bytes.
func (d *ImageData) UnmarshalJSON(b []byte) error {
	var w struct {
		URL           string   `json:"url"`
		B64JSON       b64Field `json:"b64_json"`
		RevisedPrompt string   `json:"revised_prompt"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*d = ImageData{URL: w.URL, Bytes: w.B64JSON.data, B64JSON: w.B64JSON.text, RevisedPrompt: w.RevisedPrompt}
	return nil
}

// b64Field is a JSON string of base64, decoded without first being copied
// into a Go string. Text with JSON escapes, or that is not valid base64, is
// kept as text instead.
type b64Field struct {
	data []byte
	text string
}

func (f *b64Field) UnmarshalJSON(b []byte) error {
	if len(b) > 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		raw := b[1 : len(b)-1]
		data := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
		if n, err := base64.StdEncoding.Decode(data, raw); err == nil {
			f.data = data[:n]
			return nil
		}
	}
	return json.Unmarshal(b, &f.text)
}

const imagesPath = "/api/v1/images/generations"

// The image response formats. NanoGPT's default is ImageFormatB64; the client sends
// the format explicitly either way (ByteChef's default was url).
const (
	ImageFormatB64 = "b64_json"
	ImageFormatURL = "url"
)

// CreateImage generates images. An empty ResponseFormat is sent as b64_json,
// NanoGPT's own default: the format is always sent explicitly. Items with
// neither a URL nor base64 data are dropped; an answer without any usable image is an *APIError with Code CodeInvalidResponse.
func (c *Client) CreateImage(ctx context.Context, req ImageRequest) (_ *ImageResponse, err error) {
	defer c.redact(&err)
	req.ResponseFormat = cmp.Or(req.ResponseFormat, ImageFormatB64)
	var out ImageResponse
	if err := c.postJSON(ctx, imagesPath, req, &out); err != nil {
		return nil, err
	}
	usable := out.Data[:0]
	for _, d := range out.Data {
		if d.URL != "" || len(d.Bytes) > 0 || d.B64JSON != "" {
			usable = append(usable, d)
		}
	}
	out.Data = usable
	if len(out.Data) == 0 {
		return nil, &APIError{Status: http.StatusOK, Code: CodeInvalidResponse,
			Message: "NanoGPT answered " + imagesPath + " without any image"}
	}
	return &out, nil
}
