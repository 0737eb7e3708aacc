package nanogpt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"sort"
	"testing"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

const imgKey = "sk-nano-5d0c7a11-image-test-secret"

// imgFake starts a fake NanoGPT accepting imgKey and a client pointed at it.
func imgFake(t *testing.T) (*nanogpttest.Server, *Client) {
	t.Helper()
	fake := nanogpttest.New(imgKey)
	t.Cleanup(fake.Close)
	return fake, New(Config{BaseURL: fake.URL, APIKey: imgKey})
}

func imgPtr[T any](v T) *T { return &v }

// imgOK answers with one URL image.
func imgOK(w http.ResponseWriter, r *http.Request) {
	nanogpttest.JSON(w, map[string]any{"created": 1, "data": []any{map[string]any{"url": "https://storage.example/i.png"}}})
}

// imgBody returns the raw JSON members of the last image request.
func imgBody(t *testing.T, fake *nanogpttest.Server) (nanogpttest.Request, map[string]json.RawMessage) {
	t.Helper()
	r, ok := fake.Last(imagesPath)
	if !ok {
		t.Fatalf("no request to %s; got %+v", imagesPath, fake.Requests())
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("image request body is not a JSON object: %v\n%s", err, r.Body)
	}
	return r, m
}

func imgKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestImageSendsEveryFieldUnderItsWireName(t *testing.T) {
	fake, c := imgFake(t)
	fake.Handle("POST "+imagesPath, imgOK)
	_, err := c.CreateImage(context.Background(), ImageRequest{
		Model: "flux-dev", Prompt: "a red fox", N: imgPtr(2), Size: "1024x1024", ResponseFormat: "b64_json",
		Seed: imgPtr(int64(42)), GuidanceScale: imgPtr(7.5), Strength: imgPtr(0.0), NumInferenceSteps: imgPtr(30),
		User: "u-1", ImageDataURL: "data:image/png;base64,iVBORw0KGgo=",
	})
	if err != nil {
		t.Fatal(err)
	}
	r, m := imgBody(t, fake)
	if r.Method != http.MethodPost {
		t.Errorf("method = %s, want POST", r.Method)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+imgKey {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("x-api-key"); got != imgKey {
		t.Errorf("x-api-key = %q", got)
	}
	want := map[string]string{
		"model": `"flux-dev"`, "prompt": `"a red fox"`, "n": `2`, "size": `"1024x1024"`, "response_format": `"b64_json"`,
		"seed": `42`, "guidance_scale": `7.5`, "strength": `0`, "num_inference_steps": `30`, "user": `"u-1"`,
		"imageDataUrl": `"data:image/png;base64,iVBORw0KGgo="`,
	}
	got := map[string]string{}
	for k, v := range m {
		got[k] = string(v)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body members:\n got %v\nwant %v", got, want)
	}
}

func TestImageOmitsUnsetFieldsButAlwaysSendsResponseFormat(t *testing.T) {
	fake, c := imgFake(t)
	fake.Handle("POST "+imagesPath, imgOK)
	if _, err := c.CreateImage(context.Background(), ImageRequest{Model: "hidream", Prompt: "a cat"}); err != nil {
		t.Fatal(err)
	}
	_, m := imgBody(t, fake)
	if keys := imgKeys(m); !reflect.DeepEqual(keys, []string{"model", "prompt", "response_format"}) {
		t.Errorf("body keys = %v, want only model, prompt, response_format", keys)
	}
	if string(m["response_format"]) != `"b64_json"` {
		t.Errorf("default response_format = %s, want \"b64_json\" (NanoGPT's default, sent explicitly)", m["response_format"])
	}
}

func TestImageDecodesMixedItemsAndCost(t *testing.T) {
	fake, c := imgFake(t)
	fake.Handle("POST "+imagesPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"created":1769278225,"data":[
			{"url":"https://storage.example/a.png","revised_prompt":"a red fox, detailed"},
			{"b64_json":"iVBORw0KGgo="},
			{}],
			"cost":0.0123,"paymentSource":"USD","remainingBalance":12.5}`))
	})
	res, err := c.CreateImage(context.Background(), ImageRequest{Model: "m", Prompt: "p", ResponseFormat: "url"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 1769278225 {
		t.Errorf("Created = %d", res.Created)
	}
	want := []ImageData{{URL: "https://storage.example/a.png", RevisedPrompt: "a red fox, detailed"}, {Bytes: []byte("\x89PNG\r\n\x1a\n")}}
	if !reflect.DeepEqual(res.Data, want) {
		t.Errorf("Data = %+v, want %+v (empty items dropped)", res.Data, want)
	}
	if res.Cost == nil || *res.Cost != 0.0123 {
		t.Errorf("Cost = %v", res.Cost)
	}
	if res.RemainingBalance == nil || *res.RemainingBalance != 12.5 {
		t.Errorf("RemainingBalance = %v", res.RemainingBalance)
	}
	if res.PaymentSource != "USD" {
		t.Errorf("PaymentSource = %q", res.PaymentSource)
	}
}

func TestImageWithoutImagesIsInvalidResponse(t *testing.T) {
	for name, body := range map[string]string{
		"empty data":   `{"created":1,"data":[]}`,
		"no data":      `{"created":1}`,
		"empty images": `{"created":1,"data":[{},{"revised_prompt":"x"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			fake, c := imgFake(t)
			fake.Handle("POST "+imagesPath, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(body))
			})
			_, err := c.CreateImage(context.Background(), ImageRequest{Model: "m", Prompt: "p"})
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != "invalid_response" {
				t.Fatalf("err = %v, want *APIError invalid_response", err)
			}
		})
	}
}

func TestImageLegacy402IsAPIError(t *testing.T) {
	fake, c := imgFake(t)
	fake.Handle("POST "+imagesPath, func(w http.ResponseWriter, r *http.Request) {
		nanogpttest.Error(w, http.StatusPaymentRequired, `{"error":"Insufficient balance","requiredBalance":0.0035,"status":402}`)
	})
	res, err := c.CreateImage(context.Background(), ImageRequest{Model: "m", Prompt: "p"})
	if res != nil {
		t.Errorf("res = %+v, want nil", res)
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %T %v, want *APIError", err, err)
	}
	if ae.Status != http.StatusPaymentRequired || ae.Message != "Insufficient balance" {
		t.Errorf("APIError = %+v", ae)
	}
}

func TestImageWrongKeyIs401(t *testing.T) {
	fake, _ := imgFake(t)
	fake.Handle("POST "+imagesPath, imgOK)
	c := New(Config{BaseURL: fake.URL, APIKey: "sk-nano-wrong"})
	_, err := c.CreateImage(context.Background(), ImageRequest{Model: "m", Prompt: "p"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want 401 *APIError", err)
	}
}
