package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

const (
	benchKey    = "bench-key-0123456789"
	chatModel   = "bench/chat-model"
	chatAnswer  = "Hello from the fake NanoGPT."
	imageModel  = "bench/image-model"
	sttModel    = "Whisper-Large-V3"
	sttText     = "the fake transcript"
	imageCount  = 4
	imageSide   = 1024
	uploadBytes = 3_000_000 // "3 MB": NanoGPT's cap on a direct upload is 3 MiB
)

// fake is a NanoGPT on loopback that answers at once. Chat answers are tiny;
// the image endpoint returns imageCount PNGs as base64 (b64_json); the
// transcription endpoint takes an upload and answers with a short transcript.
type fake struct {
	*nanogpttest.Server
	imageBody  []byte // the whole JSON answer of the image endpoint, built once
	imageBytes int    // the decoded size of all images together
	audio      []byte // a WAV file of uploadBytes
}

func newFake() *fake {
	f := &fake{Server: nanogpttest.New(benchKey)}
	// Non-streaming answers are built once, so the fake costs little CPU;
	// streams (not used by the figures) go to the shared handler.
	stream := nanogpttest.ChatHandler(func(map[string]any) string { return chatAnswer })
	answer, _ := json.Marshal(nanogpttest.ChatCompletion(chatModel, chatAnswer))
	chat := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !json.Valid(body) {
			nanogpttest.Error(w, http.StatusBadRequest, `{"error":{"message":"body is not JSON","type":"invalid_request_error"}}`)
			return
		}
		if bytes.Contains(body, []byte(`"stream":true`)) {
			r.Body = io.NopCloser(bytes.NewReader(body))
			stream(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}
	f.Handle("POST /api/v1/chat/completions", chat)
	f.Handle("POST /v1/chat/completions", chat) // the official server's path

	images := make([]any, imageCount)
	for i := range images {
		p := noisyPNG(uint64(i))
		f.imageBytes += len(p)
		images[i] = map[string]any{"b64_json": base64.StdEncoding.EncodeToString(p)}
	}
	f.imageBody, _ = json.Marshal(map[string]any{"created": 1, "cost": 0.12, "paymentSource": "USD", "data": images})
	f.Handle("POST /api/v1/images/generations", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f.imageBody)
	})

	f.audio = make([]byte, uploadBytes)
	copy(f.audio, "RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00data")
	r := rand.New(rand.NewPCG(7, 7))
	for i := 44; i < len(f.audio); i++ {
		f.audio[i] = byte(r.Uint32())
	}
	f.Handle("POST /api/transcribe", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			nanogpttest.Error(w, http.StatusBadRequest, `{"error":{"message":"not multipart"}}`)
			return
		}
		if r.MultipartForm != nil {
			defer r.MultipartForm.RemoveAll()
		}
		nanogpttest.JSON(w, map[string]any{"transcription": sttText,
			"metadata": map[string]any{"actualDuration": 1.5, "language": "en", "cost": 0.01, "currency": "USD"}})
	})
	return f
}

// noisyPNG is a 1024×1024 PNG: a gradient with noise, about 1.6 MB (about
// what image models return at that size).
func noisyPNG(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, imageSide, imageSide))
	for y := range imageSide {
		for x := range imageSide {
			n := func() uint8 { return uint8(r.IntN(8)) }
			img.SetRGBA(x, y, color.RGBA{uint8(x/4) + n(), uint8(y/4) + n(), uint8((x+y)/8) + n(), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}
