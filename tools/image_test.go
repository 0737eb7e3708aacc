package tools_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// imageBody returns the JSON body of the last image request.
func imageBody(t *testing.T, h *harness) map[string]any {
	t.Helper()
	r, ok := h.fake.Last(imagesPath)
	if !ok {
		t.Fatal("no image request reached NanoGPT")
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("image request: %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
	}
	return r.JSON()
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestCreateImageWireFormat(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{InlineMax: 1 << 20})
	h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"b64_json": b64(pngBytes)}))
	if err := os.WriteFile(filepath.Join(h.root, "in.png"), pngBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	res := h.call("createImage", map[string]any{
		"model": "flux-dev", "imageMessages": []any{map[string]any{"content": "a red fox", "weight": 2}},
		"size": "512x512", "n": 1, "seed": 42, "guidanceScale": 7.5, "strength": 0.6, "numInferenceSteps": 30,
		"user": "user-7", "inputImage": map[string]any{"url": "in.png"},
	}, nil)
	mustOK(t, res)
	body := imageBody(t, h)
	want := map[string]any{
		"model": "flux-dev", "prompt": "a red fox", "size": "512x512", "n": 1.0, "seed": 42.0, "guidance_scale": 7.5,
		"strength": 0.6, "num_inference_steps": 30.0, "user": "user-7", "response_format": "b64_json",
		"imageDataUrl": "data:image/png;base64," + b64(pngBytes),
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %#v, want %#v", k, body[k], v)
		}
	}
	if len(body) != len(want) {
		t.Errorf("body keys = %s, want %s", keys(body), keys(want))
	}

	// Unset parameters are not sent; response_format always is.
	mustOK(t, h.call("createImage", map[string]any{"model": "hidream", "imageMessages": []any{map[string]any{"content": "x"}}}, nil))
	if got := keys(imageBody(t, h)); got != "model,prompt,response_format" {
		t.Errorf("minimal body keys = %s", got)
	}
	// Zero values the caller gave are sent.
	mustOK(t, h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "x"}}, "seed": 0, "guidanceScale": 0}, nil))
	if b := imageBody(t, h); b["seed"] != 0.0 || b["guidance_scale"] != 0.0 {
		t.Errorf("zero seed/guidance not sent: %v", b)
	}
}

func TestCreateImageResponseFormat(t *testing.T) {
	st := newStorage(t)
	url := st.put("/img/1.png", "image/png", pngBytes)
	cases := []struct {
		name  string
		media tools.Media
		args  map[string]any
		want  string
	}{
		{"default", tools.Media{}, nil, "b64_json"},
		{"inline", tools.Media{}, map[string]any{"output": "inline"}, "b64_json"},
		{"file", tools.Media{Dir: t.TempDir()}, map[string]any{"output": "file"}, "b64_json"},
		{"output url", tools.Media{}, map[string]any{"output": "url"}, "url"},
		{"operator default url", tools.Media{Mode: tools.OutputURL}, nil, "url"},
		{"hosted auto", tools.Media{Hosted: true}, nil, "url"},
		{"caller's url with inline", tools.Media{}, map[string]any{"output": "inline", "responseFormat": "url"}, "url"},
		{"caller's b64 with url", tools.Media{}, map[string]any{"output": "url", "responseFormat": "b64_json"}, "b64_json"},
	}
	for _, c := range cases {
		h := newHarnessWith(t, testKey, c.media)
		h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"url": url}))
		args := map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "x"}}}
		for k, v := range c.args {
			args[k] = v
		}
		mustOK(t, h.call("createImage", args, nil))
		if got := imageBody(t, h)["response_format"]; got != c.want {
			t.Errorf("%s: response_format = %v, want %s", c.name, got, c.want)
		}
	}
}

// Every one of n images reaches the caller, whatever mix NanoGPT sends.
func TestCreateImageReturnsEveryImage(t *testing.T) {
	st := newStorage(t)
	u1 := st.put("/img/1.jpg", "image/jpeg", jpegBytes)
	u3 := st.put("/img/3", "binary/octet-stream", pngBytes)
	mix := imageAnswer(map[string]any{"url": u1}, map[string]any{"b64_json": b64(pngBytes)}, map[string]any{"url": u3})
	msgs := []any{map[string]any{"content": "three cats"}}
	wantMIME := []string{"image/jpeg", "image/png", "image/png"}
	wantData := [][]byte{jpegBytes, pngBytes, pngBytes}

	t.Run("inline", func(t *testing.T) {
		h := newHarnessWith(t, testKey, tools.Media{})
		h.fake.Handle("POST "+imagesPath, mix)
		res := h.call("createImage", map[string]any{"model": "m", "imageMessages": msgs, "n": 3, "output": "inline"}, nil)
		mustOK(t, res)
		if n := imageBody(t, h)["n"]; n != 3.0 {
			t.Errorf("n = %v", n)
		}
		blocks := imageBlocks(res)
		if len(blocks) != 3 {
			t.Fatalf("%d image blocks, want 3", len(blocks))
		}
		for i, b := range blocks {
			data, _ := base64.StdEncoding.DecodeString(b.Data)
			if b.MIMEType != wantMIME[i] || string(data) != string(wantData[i]) {
				t.Errorf("block %d: %s, %d bytes", i+1, b.MIMEType, len(data))
			}
			if line := fmt.Sprintf("image %d: %s, %d bytes, shown inline", i+1, wantMIME[i], len(wantData[i])); !strings.Contains(text(res), line) {
				t.Errorf("text %q lacks %q", text(res), line)
			}
		}
		if !strings.HasPrefix(text(res), "Created 3 image(s) with m; cost USD 0.03. Remaining balance: 4.97.") {
			t.Errorf("summary = %q", text(res))
		}
		out := structured[tools.CreateImageOutput](t, res)
		if len(out.Images) != 3 || out.Prompt != "three cats" || out.Model != "m" || out.Cost == nil || *out.Cost != 0.03 ||
			out.PaymentSource != "USD" || out.RemainingBalance == nil || *out.RemainingBalance != 4.97 {
			t.Errorf("structured = %+v", out)
		}
	})
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		h := newHarnessWith(t, testKey, tools.Media{Dir: dir})
		h.fake.Handle("POST "+imagesPath, mix)
		res := h.call("createImage", map[string]any{"model": "m", "imageMessages": msgs, "n": 3, "output": "file"}, nil)
		mustOK(t, res)
		out := structured[tools.CreateImageOutput](t, res)
		if len(out.Images) != 3 || len(dirFiles(t, dir)) != 3 {
			t.Fatalf("images %+v, files %v", out.Images, dirFiles(t, dir))
		}
		for i, im := range out.Images {
			data, err := os.ReadFile(im.Path)
			if err != nil || string(data) != string(wantData[i]) || im.MimeType != wantMIME[i] {
				t.Errorf("image %d: %+v (%v)", i+1, im, err)
			}
			if line := fmt.Sprintf("image %d: %s, %d bytes, saved to %s", i+1, wantMIME[i], len(wantData[i]), im.Path); !strings.Contains(text(res), line) {
				t.Errorf("text %q lacks %q", text(res), line)
			}
		}
	})
	t.Run("url", func(t *testing.T) {
		dir := t.TempDir()
		h := newHarnessWith(t, testKey, tools.Media{Dir: dir})
		h.fake.Handle("POST "+imagesPath, mix)
		res := h.call("createImage", map[string]any{"model": "m", "imageMessages": msgs, "n": 3, "output": "url"}, nil)
		mustOK(t, res)
		out := structured[tools.CreateImageOutput](t, res)
		if len(out.Images) != 3 || out.Images[0].URL != u1 || out.Images[1].Path == "" || out.Images[2].URL != u3 {
			t.Errorf("images = %+v", out.Images)
		}
		for i := 1; i <= 3; i++ {
			if !strings.Contains(text(res), fmt.Sprintf("image %d: ", i)) {
				t.Errorf("text %q lacks image %d", text(res), i)
			}
		}
	})
	if reqs := st.requests(t); len(reqs) != 4 { // u1 and u3, in inline and in file mode
		t.Errorf("storage saw %d downloads, want 4", len(reqs))
	}
}

func TestCreateImagePrompt(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"b64_json": b64(pngBytes)}))
	res := h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{
		map[string]any{"content": "a lighthouse"},
		map[string]any{"content": "watercolour", "weight": 0.5},
		map[string]any{"content": "blurry", "weight": 0},
		map[string]any{"content": "  stormy sea  ", "weight": 3},
		map[string]any{"content": "text", "weight": -1},
		map[string]any{"content": "at dusk", "weight": 1},
		map[string]any{"content": "gulls", "weight": 3},
	}}, nil)
	mustOK(t, res)
	want := "stormy sea\ngulls\na lighthouse\nat dusk\nwatercolour\nAvoid: blurry; text"
	if got := imageBody(t, h)["prompt"]; got != want {
		t.Errorf("prompt = %q, want %q", got, want)
	}
	if out := structured[tools.CreateImageOutput](t, res); out.Prompt != want {
		t.Errorf("structured prompt = %q", out.Prompt)
	}
	before := len(h.fake.Requests())

	res = h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{
		map[string]any{"content": "a", "weight": 0}, map[string]any{"content": "b", "weight": -2},
	}}, nil)
	mustFail(t, res, tools.CodeInvalidArgument, "imageMessages", "positive weight")
	res = h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "a"}}, "strength": 0.5}, nil)
	mustFail(t, res, tools.CodeInvalidArgument, "strength", "inputImage")
	res = h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{}}, nil)
	mustFail(t, res, tools.CodeInvalidArgument, "imageMessages")
	res = h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "a"}}, "n": 11}, nil)
	mustFail(t, res, tools.CodeInvalidArgument, "n")
	res = h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "a"}}, "size": "999x999"}, nil)
	mustFail(t, res, tools.CodeInvalidArgument, "size", "1024x1024")
	if n := len(h.fake.Requests()) - before; n != 0 {
		t.Errorf("%d requests reached NanoGPT for invalid input", n)
	}
}

func TestCreateImageToImage(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"b64_json": b64(pngBytes)}))
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(h.root, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("photo.png", pngBytes)
	write("photo.jpg", jpegBytes)
	write("notes.txt", []byte("not an image"))
	write("fake.png", []byte("plain text wearing a .png name"))
	outside := filepath.Join(t.TempDir(), "secret.png")
	if err := os.WriteFile(outside, pngBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	call := func(input map[string]any) map[string]any {
		t.Helper()
		return map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "as a painting"}}, "strength": 0.7, "inputImage": input}
	}
	pngURL := "data:image/png;base64," + b64(pngBytes)
	for _, in := range []map[string]any{
		{"url": "photo.png"},
		{"url": filepath.Join(h.root, "photo.png")},
		{"url": "file://" + filepath.ToSlash(filepath.Join(h.root, "photo.png"))},
		{"url": pngURL},
		{"url": "data:application/octet-stream;base64," + b64(pngBytes)}, // the bytes decide
	} {
		mustOK(t, h.call("createImage", call(in), nil))
		if b := imageBody(t, h); b["imageDataUrl"] != pngURL || b["strength"] != 0.7 {
			t.Errorf("%v: imageDataUrl = %.60v…, strength %v", in["url"], b["imageDataUrl"], b["strength"])
		}
	}
	mustOK(t, h.call("createImage", call(map[string]any{"url": "photo.jpg"}), nil))
	if b := imageBody(t, h); b["imageDataUrl"] != "data:image/jpeg;base64,"+b64(jpegBytes) {
		t.Errorf("jpeg input: %.60v…", b["imageDataUrl"])
	}

	before := len(h.fake.Requests())
	refusals := []struct {
		url  string
		want []string
	}{
		{"notes.txt", []string{"inputImage", "notes.txt", "not a png, jpeg, webp or gif image"}},
		{"fake.png", []string{"inputImage", "fake.png", "not a png"}},
		{"data:image/png;base64," + b64([]byte("hello")), []string{"inputImage", "not a png"}},
		{outside, []string{"inputImage.url", "outside the allowed folders"}},
		{"missing.png", []string{"inputImage.url", "does not exist"}},
		{"https://example.com/cat.png", []string{"inputImage.url", "does not download"}}, // no fetcher in the harness
	}
	for _, r := range refusals {
		res := h.call("createImage", call(map[string]any{"url": r.url}), nil)
		mustFail(t, res, tools.CodeInvalidArgument, r.want...)
	}
	big := make([]byte, 3<<20+1)
	copy(big, pngBytes)
	write("big.png", big)
	mustFail(t, h.call("createImage", call(map[string]any{"url": "big.png"}), nil), tools.CodeInvalidArgument, "inputImage.url", "at most 3 MB")
	if n := len(h.fake.Requests()) - before; n != 0 {
		t.Errorf("%d requests reached NanoGPT for refused input images", n)
	}
}

func TestCreateImageUpstreamErrors(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{})
	h.fake.Handle("POST "+imagesPath, func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.Error(w, http.StatusPaymentRequired, `{"error":"Insufficient balance","status":402}`)
	})
	msgs := []any{map[string]any{"content": "x"}}
	mustFail(t, h.call("createImage", map[string]any{"model": "m", "imageMessages": msgs}, nil), tools.CodeInsufficientBalance, "Insufficient balance")

	h.fake.Handle("POST "+imagesPath, func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.Error(w, http.StatusBadRequest, `{"error":{"message":"blocked by the safety filter","code":"content_policy_violation"}}`)
	})
	mustFail(t, h.call("createImage", map[string]any{"model": "m", "imageMessages": msgs}, nil), tools.CodeContentPolicy, "safety filter")

	h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"b64_json": "%%% not base64"}))
	mustFail(t, h.call("createImage", map[string]any{"model": "m", "imageMessages": msgs}, nil), tools.CodeInvalidResponse, "not valid base64")

	h.fake.Handle("POST "+imagesPath, imageAnswer())
	mustFail(t, h.call("createImage", map[string]any{"model": "m", "imageMessages": msgs}, nil), tools.CodeInvalidResponse, "without any image")
}
