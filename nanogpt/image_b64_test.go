package nanogpt

import (
	"bytes"
	"encoding/json"
	"testing"
)

// b64_json is decoded while the answer is read; what is not plain base64 is
// kept as text for the caller to decode or report.
func TestImageDataDecodesBase64WhileReading(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n")
	for _, tc := range []struct {
		name, json string
		bytes      []byte
		text       string
	}{
		{"plain", `{"b64_json":"iVBORw0KGgo="}`, png, ""},
		{"escaped slash", `{"b64_json":"iVBORw0KGgo\/"}`, nil, "iVBORw0KGgo/"},
		{"not base64", `{"b64_json":"not base64!"}`, nil, "not base64!"},
		{"empty", `{"b64_json":""}`, nil, ""},
		{"null", `{"b64_json":null}`, nil, ""},
		{"url only", `{"url":"https://x/y.png","revised_prompt":"p"}`, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d ImageData
			if err := json.Unmarshal([]byte(tc.json), &d); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d.Bytes, tc.bytes) || (d.Bytes == nil) != (tc.bytes == nil) {
				t.Errorf("Bytes = %q, want %q", d.Bytes, tc.bytes)
			}
			if d.B64JSON != tc.text {
				t.Errorf("B64JSON = %q, want %q", d.B64JSON, tc.text)
			}
		})
	}
	var d ImageData
	if err := json.Unmarshal([]byte(`{"url":"https://x/y.png","revised_prompt":"p"}`), &d); err != nil || d.URL != "https://x/y.png" || d.RevisedPrompt != "p" {
		t.Errorf("url item = %+v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`{"b64_json":7}`), &d); err == nil {
		t.Error("a number as b64_json was accepted")
	}
}
