package tools_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// Bytes that sniff as what they claim to be.
var (
	pngBytes  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 64)...)
	jpegBytes = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), bytes.Repeat([]byte{9}, 64)...)
	mp3Bytes  = append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{1}, 200)...)
	wavBytes  = append([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"), bytes.Repeat([]byte{2}, 200)...)
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// storage stands for NanoGPT's file storage: the signed URLs of generated
// images and audio point there. It records every request.
type storage struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string]storedFile
	reqs  []*http.Request
}

type storedFile struct {
	ctype string
	data  []byte
}

func newStorage(t *testing.T) *storage {
	t.Helper()
	s := &storage{files: map[string]storedFile{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(r.Context()))
		f, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f.ctype)
		_, _ = w.Write(f.data)
	}))
	t.Cleanup(s.Close)
	return s
}

// put serves data at path and returns its signed-looking URL.
func (s *storage) put(path, ctype string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = storedFile{ctype, data}
	return s.URL + path + "?X-Amz-Signature=abc&X-Amz-Expires=3600"
}

// requests returns the requests received, failing the test if any carried the key.
func (s *storage) requests(t *testing.T) []*http.Request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.reqs {
		if r.Header.Get("Authorization") != "" || r.Header.Get("x-api-key") != "" {
			t.Errorf("the API key was sent to the storage URL %s", r.URL)
		}
	}
	return append([]*http.Request(nil), s.reqs...)
}

// imageAnswer answers image generations with items (each {"url"} or {"b64_json"}).
func imageAnswer(items ...map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data := make([]any, len(items))
		for i, it := range items {
			data[i] = it
		}
		nanogpttest.JSON(w, map[string]any{"created": 1769278225, "data": data, "cost": 0.03, "paymentSource": "USD", "remainingBalance": 4.97})
	}
}

// audioAnswer answers speech requests with raw audio bytes.
func audioAnswer(ctype string, data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		_, _ = w.Write(data)
	}
}

const (
	imagesPath = "/api/v1/images/generations"
	speechPath = "/api/v1/audio/speech"
)

// structured decodes a result's structured content into T.
func structured[T any](t *testing.T, res *mcp.CallToolResult) T {
	t.Helper()
	var out T
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return out
}

func imageBlocks(res *mcp.CallToolResult) []mcp.ImageContent {
	var out []mcp.ImageContent
	for _, c := range res.Content {
		if ic, ok := c.(mcp.ImageContent); ok {
			out = append(out, ic)
		}
	}
	return out
}

func audioBlocks(res *mcp.CallToolResult) []mcp.AudioContent {
	var out []mcp.AudioContent
	for _, c := range res.Content {
		if ac, ok := c.(mcp.AudioContent); ok {
			out = append(out, ac)
		}
	}
	return out
}

// mustOK fails the test unless res is a success.
func mustOK(t *testing.T, res *mcp.CallToolResult) {
	t.Helper()
	if res.IsError {
		t.Fatalf("unexpected error: %s", text(res))
	}
}

// mustFail checks an isError result with code whose text contains every want.
func mustFail(t *testing.T, res *mcp.CallToolResult, code string, want ...string) {
	t.Helper()
	if !res.IsError || errorCode(res) != code {
		t.Errorf("got isError=%v code=%q %q, want code %s", res.IsError, errorCode(res), text(res), code)
		return
	}
	for _, w := range want {
		if !strings.Contains(text(res), w) {
			t.Errorf("error %q does not contain %q", text(res), w)
		}
	}
}

// dirFiles lists the names in dir (none when it does not exist).
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestMediaInline(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{Mode: tools.OutputFile, Dir: filepath.Join(t.TempDir(), "out"), InlineMax: 10})
	h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"b64_json": b64(pngBytes)}))
	h.fake.Handle("POST "+speechPath, audioAnswer("audio/mpeg", mp3Bytes))

	// output=inline overrides the operator's default (file) and the inline cap.
	res := h.call("createImage", map[string]any{"model": "hidream", "imageMessages": []any{map[string]any{"content": "a cat"}}, "output": "inline"}, nil)
	mustOK(t, res)
	imgs := imageBlocks(res)
	if len(imgs) != 1 || imgs[0].MIMEType != "image/png" || imgs[0].Data != b64(pngBytes) {
		t.Errorf("image blocks = %+v", imgs)
	}
	if !strings.Contains(text(res), fmt.Sprintf("image: image/png, %d bytes, shown inline", len(pngBytes))) {
		t.Errorf("text = %q", text(res))
	}

	res = h.call("createSpeech", map[string]any{"model": "tts-1", "input": "hi", "output": "inline"}, nil)
	mustOK(t, res)
	auds := audioBlocks(res)
	if len(auds) != 1 || auds[0].MIMEType != "audio/mpeg" || auds[0].Data != b64(mp3Bytes) {
		t.Errorf("audio blocks = %+v", auds)
	}
	if !strings.Contains(text(res), fmt.Sprintf("audio: audio/mpeg, %d bytes, shown inline", len(mp3Bytes))) {
		t.Errorf("text = %q", text(res))
	}
	if names := dirFiles(t, filepath.Join(h.root, "out")); len(names) != 0 {
		t.Errorf("inline output wrote files: %v", names)
	}
}

func TestMediaFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet")
	h := newHarnessWith(t, testKey, tools.Media{Dir: dir, InlineMax: 1 << 20})
	h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"b64_json": b64(pngBytes)}, map[string]any{"b64_json": b64(jpegBytes)}))
	h.fake.Handle("POST "+speechPath, audioAnswer("audio/wav", wavBytes))

	res := h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "x"}}, "output": "file"}, nil)
	mustOK(t, res)
	if len(imageBlocks(res)) != 0 {
		t.Error("file mode also returned image blocks")
	}
	out := structured[tools.CreateImageOutput](t, res)
	if len(out.Images) != 2 {
		t.Fatalf("images = %+v", out.Images)
	}
	for i, want := range []struct {
		data []byte
		mime string
		ext  string
	}{{pngBytes, "image/png", ".png"}, {jpegBytes, "image/jpeg", ".jpg"}} {
		im := out.Images[i]
		if !filepath.IsAbs(im.Path) || filepath.Dir(im.Path) != dir || filepath.Ext(im.Path) != want.ext || im.MimeType != want.mime || im.Inline || im.URL != "" {
			t.Errorf("image %d = %+v", i+1, im)
		}
		if got, err := os.ReadFile(im.Path); err != nil || !bytes.Equal(got, want.data) {
			t.Errorf("image %d file: %v", i+1, err)
		}
		if !strings.Contains(text(res), "saved to "+im.Path) {
			t.Errorf("text %q does not name %s", text(res), im.Path)
		}
	}
	if out.Images[0].Path == out.Images[1].Path {
		t.Error("two images share a file name")
	}

	// The same call again must not overwrite anything.
	mustOK(t, h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "x"}}, "output": "file"}, nil))
	if names := dirFiles(t, dir); len(names) != 4 {
		t.Errorf("files after two calls = %v, want 4 distinct", names)
	}

	res = h.call("createSpeech", map[string]any{"model": "tts-1", "input": "hi", "responseFormat": "wav", "output": "file"}, nil)
	mustOK(t, res)
	sp := structured[tools.CreateSpeechOutput](t, res)
	if !filepath.IsAbs(sp.Audio.Path) || filepath.Ext(sp.Audio.Path) != ".wav" || sp.Audio.MimeType != "audio/wav" || sp.Audio.Bytes != len(wavBytes) {
		t.Errorf("audio = %+v", sp.Audio)
	}
	if got, err := os.ReadFile(sp.Audio.Path); err != nil || !bytes.Equal(got, wavBytes) {
		t.Errorf("audio file: %v", err)
	}
	wantFile := tools.FileEntry{URL: "file://" + filepath.ToSlash(sp.Audio.Path), Name: filepath.Base(sp.Audio.Path), MimeType: "audio/wav", Extension: "wav"}
	if sp.File != wantFile || sp.AudioURL != "" {
		t.Errorf("file = %+v audioUrl %q, want %+v", sp.File, sp.AudioURL, wantFile)
	}
	if !strings.Contains(text(res), fmt.Sprintf("audio: audio/wav, %d bytes, saved to %s", len(wavBytes), sp.Audio.Path)) {
		t.Errorf("text = %q", text(res))
	}
}

func TestMediaFileModeUnavailable(t *testing.T) {
	h := newHarnessWith(t, testKey, tools.Media{InlineMax: 1 << 20})
	h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"b64_json": b64(pngBytes)}))
	h.fake.Handle("POST "+speechPath, audioAnswer("audio/mpeg", mp3Bytes))
	res := h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "x"}}, "output": "file"}, nil)
	mustFail(t, res, tools.CodeInvalidArgument, "output", "file mode is not available")
	res = h.call("createSpeech", map[string]any{"model": "m", "input": "x", "output": "file"}, nil)
	mustFail(t, res, tools.CodeInvalidArgument, "output", "file mode is not available")
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d paid requests reached NanoGPT although the output mode was refused", n)
	}
}

func TestMediaURL(t *testing.T) {
	st := newStorage(t)
	imgURL := st.put("/img/a.png", "image/png", pngBytes)
	audURL := st.put("/tts/a.mp3", "audio/mpeg", mp3Bytes)
	h := newHarnessWith(t, testKey, tools.Media{Dir: t.TempDir(), InlineMax: 1 << 20})
	h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"url": imgURL}))
	h.fake.Handle("POST "+speechPath, func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.JSON(w, map[string]any{"audioUrl": audURL, "contentType": "audio/mpeg", "cost": 0.001, "currency": "USD"})
	})

	res := h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "x"}}, "output": "url"}, nil)
	mustOK(t, res)
	out := structured[tools.CreateImageOutput](t, res)
	if len(out.Images) != 1 || out.Images[0].URL != imgURL || out.Images[0].Path != "" || out.Images[0].Inline {
		t.Errorf("images = %+v", out.Images)
	}
	if want := "image: image/png at " + imgURL + " (NanoGPT's signed URLs expire after about an hour)"; !strings.Contains(text(res), want) {
		t.Errorf("text %q lacks %q", text(res), want)
	}

	res = h.call("createSpeech", map[string]any{"model": "Kokoro-82m", "input": "x", "output": "url"}, nil)
	mustOK(t, res)
	sp := structured[tools.CreateSpeechOutput](t, res)
	if sp.AudioURL != audURL || sp.Audio.URL != audURL || sp.File.URL != audURL || sp.File.Name != "speech.mp3" || sp.File.MimeType != "audio/mpeg" || sp.File.Extension != "mp3" {
		t.Errorf("speech = %+v", sp)
	}
	if !strings.Contains(text(res), "audio: audio/mpeg at "+audURL) || !strings.Contains(text(res), "download it soon") {
		t.Errorf("text = %q", text(res))
	}
	if n := len(st.requests(t)); n != 0 {
		t.Errorf("url mode downloaded %d files", n)
	}
	if len(imageBlocks(res)) != 0 || len(audioBlocks(res)) != 0 {
		t.Error("url mode returned media blocks")
	}
}

// When NanoGPT gives bytes and no URL, url mode falls back: to a file when
// the server runs locally with an output folder, inline otherwise.
func TestMediaURLFallsBackWhenOnlyBytes(t *testing.T) {
	cases := []struct {
		name   string
		media  tools.Media
		inline bool
	}{
		{"local with folder", tools.Media{Dir: t.TempDir()}, false},
		{"local without folder", tools.Media{}, true},
		{"hosted", tools.Media{Hosted: true, Dir: t.TempDir()}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarnessWith(t, testKey, c.media)
			h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"b64_json": b64(pngBytes)}))
			h.fake.Handle("POST "+speechPath, audioAnswer("audio/mpeg", mp3Bytes))
			res := h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "x"}}, "output": "url"}, nil)
			mustOK(t, res)
			im := structured[tools.CreateImageOutput](t, res).Images[0]
			if r, _ := h.fake.Last(imagesPath); r.JSON()["response_format"] != "url" {
				t.Errorf("response_format = %v, want url", r.JSON()["response_format"])
			}
			res2 := h.call("createSpeech", map[string]any{"model": "m", "input": "x", "output": "url"}, nil)
			mustOK(t, res2)
			au := structured[tools.CreateSpeechOutput](t, res2).Audio
			for _, got := range []struct {
				d   tools.Delivered
				res *mcp.CallToolResult
			}{{im, res}, {au, res2}} {
				if got.d.URL != "" || got.d.Inline != c.inline || (got.d.Path != "") == c.inline {
					t.Errorf("delivered = %+v, want inline=%v", got.d, c.inline)
				}
				if !strings.Contains(text(got.res), "(NanoGPT returned the bytes, not a URL)") {
					t.Errorf("text %q does not explain the fallback", text(got.res))
				}
			}
			if c.inline && (len(imageBlocks(res)) != 1 || len(audioBlocks(res2)) != 1) {
				t.Error("inline fallback without media blocks")
			}
		})
	}
}

func TestMediaAuto(t *testing.T) {
	st := newStorage(t)
	big := append(append([]byte(nil), pngBytes...), bytes.Repeat([]byte{3}, 4000)...)
	bigURL := st.put("/img/big.png", "application/octet-stream", big)
	smallURL := st.put("/img/small.png", "image/png", pngBytes)
	msgs := []any{map[string]any{"content": "x"}}
	const limit = 1000

	t.Run("small goes inline", func(t *testing.T) {
		for _, hosted := range []bool{false, true} {
			h := newHarnessWith(t, testKey, tools.Media{Mode: tools.OutputAuto, Dir: t.TempDir(), InlineMax: limit, Hosted: hosted})
			h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"url": smallURL}))
			res := h.call("createImage", map[string]any{"model": "m", "imageMessages": msgs}, nil)
			mustOK(t, res)
			if ib := imageBlocks(res); len(ib) != 1 || ib[0].Data != b64(pngBytes) || ib[0].MIMEType != "image/png" {
				t.Errorf("hosted=%v: image blocks = %+v", hosted, ib)
			}
		}
	})
	t.Run("large goes to a file when local", func(t *testing.T) {
		dir := t.TempDir()
		h := newHarnessWith(t, testKey, tools.Media{Dir: dir, InlineMax: limit})
		h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"b64_json": b64(big)}))
		res := h.call("createImage", map[string]any{"model": "m", "imageMessages": msgs}, nil)
		mustOK(t, res)
		im := structured[tools.CreateImageOutput](t, res).Images[0]
		if filepath.Dir(im.Path) != dir || filepath.Ext(im.Path) != ".png" || len(imageBlocks(res)) != 0 {
			t.Errorf("delivered %+v", im)
		}
		if r, _ := h.fake.Last(imagesPath); r.JSON()["response_format"] != "b64_json" {
			t.Errorf("local auto asked for %v, want b64_json", r.JSON()["response_format"])
		}
	})
	t.Run("large stays a URL when hosted", func(t *testing.T) {
		h := newHarnessWith(t, testKey, tools.Media{InlineMax: limit, Hosted: true})
		h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"url": bigURL}))
		res := h.call("createImage", map[string]any{"model": "m", "imageMessages": msgs}, nil)
		mustOK(t, res)
		im := structured[tools.CreateImageOutput](t, res).Images[0]
		if im.URL != bigURL || im.Path != "" || len(imageBlocks(res)) != 0 {
			t.Errorf("delivered %+v", im)
		}
		// The storage's octet-stream label does not hide that it is a png.
		if im.MimeType != "image/png" || !strings.Contains(text(res), "expire") {
			t.Errorf("delivered %+v, text %q", im, text(res))
		}
		if r, _ := h.fake.Last(imagesPath); r.JSON()["response_format"] != "url" {
			t.Errorf("hosted auto asked for %v, want url", r.JSON()["response_format"])
		}
	})
	t.Run("speech too", func(t *testing.T) {
		bigMP3 := append(append([]byte(nil), mp3Bytes...), bytes.Repeat([]byte{4}, 4000)...)
		dir := t.TempDir()
		h := newHarnessWith(t, testKey, tools.Media{Dir: dir, InlineMax: limit})
		h.fake.Handle("POST "+speechPath, audioAnswer("audio/mpeg", mp3Bytes))
		res := h.call("createSpeech", map[string]any{"model": "m", "input": "x"}, nil)
		mustOK(t, res)
		if len(audioBlocks(res)) != 1 {
			t.Errorf("small speech not inline: %q", text(res))
		}
		h.fake.Handle("POST "+speechPath, audioAnswer("audio/mpeg", bigMP3))
		res = h.call("createSpeech", map[string]any{"model": "m", "input": "x"}, nil)
		mustOK(t, res)
		if au := structured[tools.CreateSpeechOutput](t, res).Audio; filepath.Dir(au.Path) != dir || filepath.Ext(au.Path) != ".mp3" || len(audioBlocks(res)) != 0 {
			t.Errorf("large speech: %+v", au)
		}
	})
}

// A URL that cannot be downloaded is returned as the URL, saying why.
func TestMediaDownloadFailureKeepsURL(t *testing.T) {
	st := newStorage(t)
	gone := st.URL + "/img/gone.png?sig=1"
	h := newHarnessWith(t, testKey, tools.Media{Dir: t.TempDir(), InlineMax: 1 << 20})
	h.fake.Handle("POST "+imagesPath, imageAnswer(map[string]any{"url": gone}))
	for _, mode := range []string{"file", "inline", "auto"} {
		res := h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "x"}}, "output": mode}, nil)
		mustOK(t, res)
		if im := structured[tools.CreateImageOutput](t, res).Images[0]; im.URL != gone || im.Path != "" || im.Inline {
			t.Errorf("%s: delivered %+v", mode, im)
		}
		if !strings.Contains(text(res), "downloading it failed") {
			t.Errorf("%s: text %q does not say the download failed", mode, text(res))
		}
	}
}

// Saved names are the kind, a timestamp and a random part: safe and distinct.
func TestMediaFileNames(t *testing.T) {
	dir := t.TempDir()
	h := newHarnessWith(t, testKey, tools.Media{Mode: tools.OutputFile, Dir: dir})
	items := make([]map[string]any, 5)
	for i := range items {
		items[i] = map[string]any{"b64_json": b64(pngBytes)}
	}
	h.fake.Handle("POST "+imagesPath, imageAnswer(items...))
	mustOK(t, h.call("createImage", map[string]any{"model": "m", "imageMessages": []any{map[string]any{"content": "../../etc/passwd"}}, "n": 5}, nil))
	names := dirFiles(t, dir)
	re := regexp.MustCompile(`^image-\d{8}-\d{6}-[0-9a-f]{8}(-\d+)?\.png$`)
	if len(names) != 5 {
		t.Fatalf("files = %v", names)
	}
	for _, n := range names {
		if !re.MatchString(n) {
			t.Errorf("file name %q", n)
		}
	}
}
