package nanogpttest

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Docs is a fake NanoGPT as strict as its documentation
// (shared/reference/nanogpt-api.md): every route the client uses checks each
// request against the documented wire format, field by field (names, JSON
// types, ranges, enums, required fields), and answers 400 with an E1 error
// naming the field for anything the docs do not allow. Answers take the
// documented shapes. The knobs choose among the documented behaviours.
//
// Where NanoGPT's pages contradict each other, both readings are accepted
// (logprobs as a boolean or an integer; repetition_penalty anywhere in the
// OAS's −2..2).
type Docs struct {
	*Server

	mu sync.Mutex
	// Chat computes the answer of a chat completion (default: "4").
	Chat func(req map[string]any) string
	// Block, when set, is called with the decoded request before a chat
	// answer: a test can hold the request there (it should return when
	// r.Context() ends).
	Block func(r *http.Request, body map[string]any)
	// SpeechAsync makes /api/v1/audio/speech answer with a paid ticket that
	// /api/tts/status completes after Polls polls; otherwise it answers audio.
	SpeechAsync bool
	// TranscribeAsync makes /api/transcribe answer 202 with a ticket that
	// /api/transcribe/status completes after Polls polls.
	TranscribeAsync bool
	// Polls is how many status polls report pending before completed (default 1).
	Polls int
	// VideoFlat makes /api/video/status answer in the flat shape of the OAS
	// and skills.md ({status: "completed", videoUrl}); otherwise the guide's
	// nested data{status: "COMPLETED", output.video.url}.
	VideoFlat bool
	// VideoFails makes video jobs end FAILED, with a userFriendlyError.
	VideoFails bool

	polls  map[string]int
	videos map[string]bool // the video jobs submitted
}

// Audio is the audio the fake's speech answers carry (a WAV header and silence).
var Audio = append([]byte("RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x08\x00\x00"), make([]byte, 2048)...)

// PNG is a 1×1 image the fake's image answers carry.
var PNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

// NewDocs starts a documented fake that accepts key.
func NewDocs(key string) *Docs {
	d := &Docs{Server: New(key), polls: map[string]int{}, videos: map[string]bool{}}
	d.Handle("POST /api/v1/chat/completions", d.chat)
	d.Handle("POST /api/v1/images/generations", d.images)
	d.Handle("POST /api/v1/audio/speech", d.speech)
	d.Handle("GET /api/tts/status", d.ttsStatus)
	d.Handle("POST /api/transcribe", d.transcribe)
	d.Handle("POST /api/transcribe/status", d.transcribeStatus)
	d.Handle("POST /api/check-balance", func(w http.ResponseWriter, r *http.Request) {
		JSON(w, map[string]any{"usd_balance": "129.46956147", "nano_balance": "26.71801147", "nanoDepositAddress": "nano_1fake"})
	})
	d.Handle("POST /api/generate-video", d.video)
	d.Handle("GET /api/video/status", d.videoStatus)
	for _, p := range []string{"/api/v1/models", "/api/v1/image-models", "/api/v1/audio-models", "/api/v1/video-models"} {
		d.Handle("GET "+p, d.models)
	}
	d.files()
	return d
}

// Set changes knobs under the fake's lock.
func (d *Docs) Set(fn func(d *Docs)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d)
}

func (d *Docs) knobs() Docs {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Docs{Chat: d.Chat, Block: d.Block, SpeechAsync: d.SpeechAsync, TranscribeAsync: d.TranscribeAsync, Polls: max(d.Polls, 1),
		VideoFlat: d.VideoFlat, VideoFails: d.VideoFails}
}

// bad answers 400 with NanoGPT's E1 envelope naming param.
func bad(w http.ResponseWriter, param, format string, a ...any) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": fmt.Sprintf(format, a...), "type": "invalid_request_error", "code": "invalid_parameter", "param": param}})
	Error(w, http.StatusBadRequest, string(b))
}

// field is one documented field: its JSON kinds and, for numbers, a range.
type field struct {
	kinds    []string // "string", "number", "integer", "boolean", "array", "object"
	min, max float64  // inclusive; NaN: unbounded
	enum     []string
	check    func(v any) string // extra checks; returns a problem or ""
}

func num(lo, hi float64) field     { return field{kinds: []string{"number"}, min: lo, max: hi} }
func integer(lo, hi float64) field { return field{kinds: []string{"integer"}, min: lo, max: hi} }
func str(enum ...string) field {
	return field{kinds: []string{"string"}, min: nan, max: nan, enum: enum}
}
func kind(kinds ...string) field             { return field{kinds: kinds, min: nan, max: nan} }
func with(f field, c func(any) string) field { f.check = c; return f }

var nan = math.NaN()

// chatFields are the documented chat-completion fields (§3.2, §3.3 and the
// other documented knobs).
var chatFields = map[string]field{
	"model": str(), "messages": with(kind("array"), checkMessages), "stream": kind("boolean"),
	"stream_options": kind("object"), "include_usage": kind("boolean"), "response_format": with(kind("object"), checkResponseFormat),
	"tools": kind("array"), "tool_choice": kind("string", "object"), "parallel_tool_calls": kind("boolean"),
	"reasoning_effort": str("none", "minimal", "low", "medium", "high", "xhigh"), "reasoning": kind("object"),
	"service_tier": str("auto", "default", "flex", "priority"), "provider": kind("string", "object"),
	"frequency_penalty": num(-2, 2), "presence_penalty": num(-2, 2), "logit_bias": with(kind("object"), checkLogitBias),
	"logprobs":     {kinds: []string{"boolean", "integer"}, min: 0, max: 20}, // "bool or int"
	"top_logprobs": integer(0, 20), "max_tokens": integer(1, nan), "max_completion_tokens": integer(1, nan),
	"seed": integer(nan, nan), "stop": with(kind("string", "array"), checkStop), "temperature": num(0, 2),
	"top_k": integer(1, nan), "top_p": num(0, 1), "verbosity": str("low", "medium", "high"), "user": str(),
	"min_p": num(0, 1), "min_tokens": integer(0, nan), "mirostat_mode": {kinds: []string{"integer"}, min: 0, max: 2},
	"mirostat_tau": num(nan, nan), "mirostat_eta": num(nan, nan), "repetition_penalty": num(-2, 2),
	"tfs": num(0, 1), "top_a": num(nan, nan), "typical_p": num(0, 1),
	"eta_cutoff": num(nan, nan), "epsilon_cutoff": num(nan, nan), "stop_token_ids": kind("array"),
	"include_stop_str_in_output": kind("boolean"), "ignore_eos": kind("boolean"), "no_repeat_ngram_size": integer(0, nan),
	"custom_token_bans": kind("array"), "prompt_logprobs": kind("boolean", "integer"),
}

// checkFields checks body against the documented fields; the first problem
// is answered and reported.
func checkFields(w http.ResponseWriter, body map[string]any, fields map[string]field, required ...string) bool {
	for _, name := range required {
		if _, ok := body[name]; !ok {
			bad(w, name, "%s is required", name)
			return false
		}
	}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, name := range keys {
		f, ok := fields[name]
		if !ok {
			bad(w, name, "unknown parameter %s", name)
			return false
		}
		if p := f.problem(body[name]); p != "" {
			bad(w, name, "%s: %s", name, p)
			return false
		}
	}
	return true
}

func (f field) problem(v any) string {
	k := jsonKind(v)
	if !slices.Contains(f.kinds, k) && !(k == "integer" && slices.Contains(f.kinds, "number")) {
		return fmt.Sprintf("expected %s, got %s", strings.Join(f.kinds, " or "), k)
	}
	if x, ok := v.(float64); ok && k != "boolean" {
		if !math.IsNaN(f.min) && x < f.min || !math.IsNaN(f.max) && x > f.max {
			return fmt.Sprintf("%v is out of range [%v, %v]", x, f.min, f.max)
		}
	}
	if s, ok := v.(string); ok && len(f.enum) > 0 && !slices.Contains(f.enum, s) {
		return fmt.Sprintf("%q is not one of %v", s, f.enum)
	}
	if f.check != nil {
		return f.check(v)
	}
	return ""
}

// jsonKind names the JSON type of a decoded value; a whole number is an integer.
func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		if strings.ContainsAny(x.String(), ".eE") {
			return "number"
		}
		return "integer"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func checkMessages(v any) string {
	msgs := v.([]any)
	if len(msgs) == 0 {
		return "at least one message is required"
	}
	for i, m := range msgs {
		obj, ok := m.(map[string]any)
		if !ok {
			return fmt.Sprintf("[%d] is not an object", i)
		}
		if r, _ := obj["role"].(string); !slices.Contains([]string{"system", "user", "assistant", "tool"}, r) {
			return fmt.Sprintf("[%d].role %q is not system, user, assistant or tool", i, obj["role"])
		}
		switch c := obj["content"].(type) {
		case string:
		case []any:
			for j, p := range c {
				part, _ := p.(map[string]any)
				switch part["type"] {
				case "text":
					if _, ok := part["text"].(string); !ok {
						return fmt.Sprintf("[%d].content[%d].text must be a string", i, j)
					}
				case "image_url":
					iu, _ := part["image_url"].(map[string]any)
					u, _ := iu["url"].(string)
					if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "data:image/") {
						return fmt.Sprintf("[%d].content[%d].image_url.url must be an https or data:image URL", i, j)
					}
				default:
					return fmt.Sprintf("[%d].content[%d].type %v is not text or image_url", i, j, part["type"])
				}
			}
		default:
			return fmt.Sprintf("[%d].content must be a string or an array of parts", i)
		}
	}
	return ""
}

func checkResponseFormat(v any) string {
	rf := v.(map[string]any)
	switch rf["type"] {
	case "text", "json_object":
		return ""
	case "json_schema":
		js, _ := rf["json_schema"].(map[string]any)
		if n, _ := js["name"].(string); n == "" {
			return "json_schema.name is required"
		}
		if _, ok := js["schema"].(map[string]any); !ok {
			return "json_schema.schema must be an object"
		}
		return ""
	}
	return fmt.Sprintf("type %v is not text, json_object or json_schema", rf["type"])
}

func checkLogitBias(v any) string {
	for k, b := range v.(map[string]any) {
		if _, ok := b.(float64); !ok {
			return fmt.Sprintf("%s: the bias must be a number", k)
		}
	}
	return ""
}

func checkStop(v any) string {
	if list, ok := v.([]any); ok {
		for _, s := range list {
			if _, ok := s.(string); !ok {
				return "every stop sequence must be a string"
			}
		}
	}
	return ""
}

// decodeJSON reads a JSON object body, answering 400 when it is not one.
func decodeJSON(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var body map[string]any
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&body); err != nil || body == nil {
		bad(w, "", "the body is not a JSON object")
		return nil, false
	}
	return body, true
}

func (d *Docs) chat(w http.ResponseWriter, r *http.Request) {
	body, ok := decodeJSON(w, r)
	if !ok || !checkFields(w, body, chatFields, "model", "messages") {
		return
	}
	k := d.knobs()
	if k.Block != nil {
		k.Block(r, body)
		if r.Context().Err() != nil {
			return
		}
	}
	reply := "4"
	if k.Chat != nil {
		reply = k.Chat(body)
	}
	ChatHandler(func(map[string]any) string { return reply })(w, reqWithJSON(r, body))
}

// reqWithJSON gives a handler the body again.
func reqWithJSON(r *http.Request, body map[string]any) *http.Request {
	b, _ := json.Marshal(body)
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	return r2
}

var imageFields = map[string]field{
	"prompt": str(), "model": str(), "n": integer(1, nan), "size": str(), "response_format": str("url", "b64_json"),
	"user": str(), "imageDataUrl": with(str(), checkImageDataURL), "imageDataUrls": kind("array"), "maskDataUrl": with(str(), checkImageDataURL),
	"strength": num(0, 1), "guidance_scale": num(0, 20), "num_inference_steps": integer(1, 100), "seed": integer(nan, nan),
	"kontext_max_mode": kind("boolean"),
}

// checkImageDataURL: data URLs only ("Direct URL input is not supported"), at most 4 MB.
func checkImageDataURL(v any) string {
	s := v.(string)
	if !strings.HasPrefix(s, "data:image/") || !strings.Contains(s[:min(len(s), 64)], ";base64,") {
		return "must be a base64 data:image URL (direct URLs are not supported)"
	}
	if len(s) > 4<<20 {
		return "uploads must be 4 MB or smaller after encoding"
	}
	return ""
}

func (d *Docs) images(w http.ResponseWriter, r *http.Request) {
	body, ok := decodeJSON(w, r)
	if !ok || !checkFields(w, body, imageFields, "prompt") {
		return
	}
	n := 1
	if v, ok := body["n"].(float64); ok {
		n = int(v)
	}
	data := make([]any, n)
	for i := range data {
		if body["response_format"] == "url" {
			data[i] = map[string]any{"url": fmt.Sprintf("%s/files/image-%d.png", d.URL, i)}
		} else {
			data[i] = map[string]any{"b64_json": base64.StdEncoding.EncodeToString(PNG)}
		}
	}
	JSON(w, map[string]any{"created": 1769278225, "data": data, "cost": 0.005 * float64(n), "paymentSource": "USD", "remainingBalance": 12.5})
}

var speechFields = map[string]field{
	"model": str(), "input": str(), "voice": str(), "response_format": str("mp3", "opus", "aac", "flac", "wav", "pcm"),
	"speed": num(0.1, 5), "instructions": str(), "stream": kind("boolean"),
}

func (d *Docs) speech(w http.ResponseWriter, r *http.Request) {
	body, ok := decodeJSON(w, r)
	if !ok || !checkFields(w, body, speechFields, "model", "input") {
		return
	}
	if d.knobs().SpeechAsync {
		id := "tts-" + fmt.Sprint(len(d.Requests()))
		JSON(w, map[string]any{"status": "pending", "runId": id, "model": body["model"], "charged": true, "cost": 0.0050388, "paymentSource": "USD", "isApiRequest": true})
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	_, _ = w.Write(Audio)
}

// poll counts a status poll of runID and reports whether the job is done.
func (d *Docs) poll(runID string, need int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.polls[runID]++
	return d.polls[runID] > need
}

func (d *Docs) ttsStatus(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("runId") == "" || q.Get("model") == "" {
		bad(w, "runId", "runId and model are required")
		return
	}
	if !d.poll(q.Get("runId"), d.knobs().Polls) {
		JSON(w, map[string]any{"status": "pending", "runId": q.Get("runId"), "queuePosition": 1})
		return
	}
	JSON(w, map[string]any{"status": "completed", "audioUrl": d.URL + "/files/speech.wav", "contentType": "audio/wav", "model": q.Get("model")})
}

func (d *Docs) transcribe(w http.ResponseWriter, r *http.Request) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var model string
	switch mt {
	case "multipart/form-data":
		mr := multipart.NewReader(r.Body, params["boundary"])
		var size int
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				bad(w, "", "malformed multipart body")
				return
			}
			b, _ := io.ReadAll(p)
			switch p.FormName() {
			case "audio":
				size = len(b)
			case "model":
				model = string(b)
			case "language", "actualDuration", "diarize", "tagAudioEvents":
			default:
				bad(w, p.FormName(), "unknown field %s", p.FormName())
				return
			}
		}
		if size == 0 {
			bad(w, "audio", "audio or audioUrl is required")
			return
		}
		if size > 3<<20 {
			Error(w, http.StatusRequestEntityTooLarge, `{"error":"File too large: use URL upload for files >3MB"}`)
			return
		}
	case "application/json":
		body, ok := decodeJSON(w, r)
		fields := map[string]field{"audioUrl": str(), "model": str(), "language": str(), "actualDuration": str(), "diarize": kind("boolean"), "tagAudioEvents": kind("boolean")}
		if !ok || !checkFields(w, body, fields, "audioUrl") {
			return
		}
		model, _ = body["model"].(string)
	default:
		bad(w, "", "the body must be multipart/form-data or JSON")
		return
	}
	if d.knobs().TranscribeAsync {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"runId": "stt-" + fmt.Sprint(len(d.Requests())), "status": "pending", "model": model, "cost": 0.075, "paymentSource": "USD"})
		return
	}
	JSON(w, map[string]any{"transcription": "Hello, this is a test transcription.", "metadata": map[string]any{
		"fileName": "audio.wav", "chargedDuration": 0.1, "actualDuration": 0.1, "language": "en", "cost": 0.0012, "currency": "USD", "model": model}})
}

func (d *Docs) transcribeStatus(w http.ResponseWriter, r *http.Request) {
	body, ok := decodeJSON(w, r)
	fields := map[string]field{"runId": str(), "cost": kind("number", "string"), "paymentSource": str(), "isApiRequest": kind("boolean"),
		"fileName": str(), "fileSize": kind("number", "string"), "chargedDuration": kind("number", "string"), "diarize": kind("boolean", "string")}
	if !ok || !checkFields(w, body, fields, "runId") {
		return
	}
	id, _ := body["runId"].(string)
	if !d.poll(id, d.knobs().Polls) {
		JSON(w, map[string]any{"status": "processing"})
		return
	}
	JSON(w, map[string]any{"status": "completed", "transcription": "Hello from the async job.", "metadata": map[string]any{"language": "en", "actualDuration": 0.2}})
}

func (d *Docs) models(w http.ResponseWriter, r *http.Request) {
	item := map[string]any{"id": "openai/gpt-5.2", "object": "model", "name": "GPT 5.2", "context_length": 400000,
		"capabilities": map[string]any{"vision": true, "reasoning": true}, "pricing": map[string]any{"prompt": 1.25, "completion": 10, "currency": "USD", "unit": "per_million_tokens"}}
	switch r.URL.Path {
	case "/api/v1/image-models":
		item = map[string]any{"id": "hidream", "name": "HiDream", "supported_parameters": map[string]any{"resolutions": []any{"1024x1024"}, "max_images": 4},
			"pricing": map[string]any{"per_image": map[string]any{"1024*1024": 0.005}}}
	case "/api/v1/video-models":
		item = map[string]any{"id": "veo2-video", "name": "Veo 2", "description": "Google's video model",
			"architecture": map[string]any{"modality": "video", "input_modalities": []any{"text", "image"}, "output_modalities": []any{"video"}},
			"capabilities": map[string]any{"video_generation": true, "text_to_video": true, "image_to_video": true, "audio_generation": false},
			"pricing":      map[string]any{"currency": "USD", "per_second": 0.07}}
	case "/api/v1/audio-models":
		item = map[string]any{"id": "tts-1", "name": "TTS 1", "supported_parameters": map[string]any{"voices": []any{"alloy", "nova"}}}
		if r.URL.Query().Get("type") == "stt" {
			item = map[string]any{"id": "Whisper-Large-V3", "name": "Whisper"}
		}
	}
	JSON(w, map[string]any{"object": "list", "data": []any{item}})
}

// videoFields are the documented fields of POST /api/generate-video (§13.2):
// where the guide, the endpoint page and the OAS differ, every reading.
var videoFields = map[string]field{
	"model": str(), "prompt": str(), "duration": kind("string", "integer"), "seconds": kind("string"),
	"aspect_ratio":    str("16:9", "9:16", "1:1", "3:4", "4:3", "21:9", "auto"),
	"resolution":      str("480p", "540p", "580p", "720p", "1080p", "1792x1024", "2k", "4k"),
	"negative_prompt": str(), "seed": kind("integer", "string"), "generateAudio": kind("boolean"), "enhancePrompt": kind("boolean"),
	"mode":         str("text-to-video", "image-to-video", "reference-to-video", "video-edit"),
	"imageDataUrl": with(str(), checkImageDataURL), "imageUrl": with(str(), checkHTTPS),
}

func checkHTTPS(v any) string {
	if !strings.HasPrefix(v.(string), "https://") {
		return "must be a public https URL"
	}
	return ""
}

// video answers a submission with the guide's literal 202 ticket.
func (d *Docs) video(w http.ResponseWriter, r *http.Request) {
	body, ok := decodeJSON(w, r)
	if !ok || !checkFields(w, body, videoFields, "model") {
		return
	}
	if _, ok := body["prompt"]; !ok {
		bad(w, "prompt", "prompt is required for text-to-video")
		return
	}
	id := "vid_" + fmt.Sprint(len(d.Requests()))
	d.mu.Lock()
	d.videos[id] = true
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"runId": id, "id": id, "status": "pending", "model": body["model"],
		"cost": 0.35, "paymentSource": "USD", "remainingBalance": 12.5, "prechargeLabel": "Veo 2, 5 s"})
}

// videoStatus answers IN_QUEUE, then IN_PROGRESS, then COMPLETED (or FAILED)
// after Polls polls, in the nested or the flat shape.
func (d *Docs) videoStatus(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := cmp.Or(q.Get("requestId"), q.Get("runId"))
	if id == "" {
		bad(w, "requestId", "requestId is required")
		return
	}
	d.mu.Lock()
	known := d.videos[id]
	n := d.polls[id]
	d.mu.Unlock()
	if !known {
		Error(w, http.StatusNotFound, `{"error":{"message":"Video request not found","type":"not_found"}}`)
		return
	}
	k := d.knobs()
	done := d.poll(id, k.Polls)
	status := map[bool]string{false: "IN_QUEUE", true: "IN_PROGRESS"}[n > 0]
	switch {
	case done && k.VideoFails:
		status = "FAILED"
	case done:
		status = "COMPLETED"
	}
	if k.VideoFlat {
		flat := map[string]any{"requestId": id, "status": map[string]string{"IN_QUEUE": "queued", "IN_PROGRESS": "processing", "COMPLETED": "completed", "FAILED": "failed"}[status]}
		switch status {
		case "COMPLETED":
			flat["videoUrl"] = d.URL + "/files/video.mp4"
		case "FAILED":
			flat["error"] = "Content flagged as inappropriate. Please modify your prompt and try again."
		}
		JSON(w, flat)
		return
	}
	data := map[string]any{"status": status, "requestId": id}
	switch status {
	case "COMPLETED":
		data["output"] = map[string]any{"video": map[string]any{"url": d.URL + "/files/video.mp4"}}
		data["cost"] = 0.35
	case "FAILED":
		data["error"], data["isNSFWError"] = "Content policy violation", true
		data["userFriendlyError"] = "Content flagged as inappropriate. Please modify your prompt and try again."
	case "IN_PROGRESS":
		data["details"] = map[string]any{"progress": 40}
	}
	JSON(w, map[string]any{"requestId": id, "model": "veo2-video", "data": data})
}

// Video is the video the fake's storage serves: an MP4 file type box and padding.
var Video = append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), make([]byte, 4096)...)

// files serves the storage URLs the fake hands out (/files/…): the image and
// the audio, without any key (Server serves /files/ to anyone).
func (d *Docs) files() {
	d.Handle("GET /files/video.mp4", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(Video)
	})
	d.Handle("GET /files/speech.wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(Audio)
	})
	for i := range 10 {
		d.Handle(fmt.Sprintf("GET /files/image-%d.png", i), func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(PNG)
		})
	}
}
