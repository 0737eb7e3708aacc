package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// The HTTP wire, read event by event: which stream carries a call's progress
// and result, and what follows a cancellation.

// events reads the JSON-RPC messages of an event stream (or a JSON body)
// into ch until it ends.
func events(body io.Reader, ch chan<- map[string]any) {
	defer close(ch)
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok && strings.HasPrefix(line, "{") {
			data, ok = line, true // a plain JSON answer
		}
		var m map[string]any
		if ok && json.Unmarshal([]byte(data), &m) == nil {
			ch <- m
		}
	}
}

type httpWire struct {
	t       *testing.T
	base    string
	session string
	version string
}

func (h *httpWire) post(body string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.base+"/mcp", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if h.session != "" {
		req.Header.Set("Mcp-Session-Id", h.session)
	}
	if h.version != "" {
		req.Header.Set("Mcp-Protocol-Version", h.version)
	}
	var m struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if json.Unmarshal([]byte(body), &m) == nil && h.version == v2026 && m.Method != "" {
		req.Header.Set("Mcp-Method", m.Method)
		if m.Params.Name != "" {
			req.Header.Set("Mcp-Name", m.Params.Name)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func startHTTPWire(t *testing.T, fake *nanogpttest.Docs, version string) *httpWire {
	base := startHTTP(t, []string{"NANOGPT_API_KEY=" + serverKey, "NANOGPT_BASE_URL=" + fake.URL, "NANOGPT_MCP_AUTH_TOKENS=" + token, "NANOGPT_MCP_POLL_INTERVAL=10ms"})
	h := &httpWire{t: t, base: base}
	if version == v2025 {
		resp := h.post(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wire","version":"1"}}}`)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h.session, h.version = resp.Header.Get("Mcp-Session-Id"), v2025
		resp = h.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		resp.Body.Close()
	} else {
		h.version = v2026
	}
	return h
}

func meta(version, tok string) string {
	m := map[string]any{"progressToken": tok}
	if version == v2026 {
		m["io.modelcontextprotocol/protocolVersion"] = v2026
		m["io.modelcontextprotocol/clientInfo"] = map[string]any{"name": "wire", "version": "1"}
		m["io.modelcontextprotocol/clientCapabilities"] = map[string]any{}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Finding 6 on streamable HTTP: with the session's GET stream open, every
// progress notification of a POSTed call comes on that POST's own stream,
// before its result, and none on the GET stream.
func TestStreamableProgressOnItsOwnStream(t *testing.T) {
	for _, version := range []string{v2025, v2026} {
		t.Run(version, func(t *testing.T) {
			fake := nanogpttest.NewDocs(serverKey)
			t.Cleanup(fake.Close)
			fake.Set(func(d *nanogpttest.Docs) { d.SpeechAsync, d.TranscribeAsync, d.Polls = true, true, 3 })
			h := startHTTPWire(t, fake, version)
			getEvents := make(chan map[string]any, 100)
			if version == v2025 {
				req, _ := http.NewRequest("GET", h.base+"/mcp", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Accept", "text/event-stream")
				req.Header.Set("Mcp-Session-Id", h.session)
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("GET stream: %v %v", err, resp)
				}
				t.Cleanup(func() { resp.Body.Close() })
				go events(resp.Body, getEvents)
				time.Sleep(50 * time.Millisecond)
			}
			calls := []string{
				`{"name":"createSpeech","arguments":{"model":"Elevenlabs-V3","input":"hi","output":"inline"}}`,
				`{"name":"createTranscription","arguments":{"model":"Elevenlabs-STT","file":{"url":"data:audio/wav;base64,UklGRiQIAABXQVZF","name":"a.wav"}}}`,
				`{"name":"ask","arguments":{"model":"m","userPrompt":"count to three"}}`,
			}
			for i, call := range calls {
				for n := range 3 {
					id := fmt.Sprint(10*i + n)
					body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":%s}`, id,
						strings.Replace(call, `{"name"`, `{"_meta":`+meta(version, "t"+id)+`,"name"`, 1))
					resp := h.post(body)
					ch := make(chan map[string]any, 100)
					events(resp.Body, ch)
					resp.Body.Close()
					progress, result := 0, false
					for m := range ch {
						switch {
						case m["method"] == "notifications/progress":
							if result {
								t.Errorf("call %s: progress after the result", id)
							}
							progress++
						case fmt.Sprint(m["id"]) == id:
							result = true
						}
					}
					if !result || progress == 0 {
						t.Errorf("call %s: result %v, %d progress notification(s) on its stream", id, result, progress)
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
			for len(getEvents) > 0 {
				if m := <-getEvents; m["method"] == "notifications/progress" {
					t.Errorf("progress of a POSTed call went to the GET stream: %v", m)
				}
			}
		})
	}
}

// Findings 5 and 7 on streamable HTTP: notifications/cancelled (without _meta,
// as the official Go SDK sends it in 2026-07-28) is accepted, cancels the
// upstream request, and the call's stream ends without a response.
func TestStreamableCancel(t *testing.T) {
	for _, version := range []string{v2025, v2026} {
		t.Run(version, func(t *testing.T) {
			fake := nanogpttest.NewDocs(serverKey)
			t.Cleanup(fake.Close)
			arrived, release := holdChat(fake)
			defer release()
			gone := make(chan struct{}, 1)
			fake.Set(func(d *nanogpttest.Docs) {
				hold := d.Block
				d.Block = func(r *http.Request, body map[string]any) {
					hold(r, body)
					if r.Context().Err() != nil {
						gone <- struct{}{}
					}
				}
			})
			h := startHTTPWire(t, fake, version)
			ch := make(chan map[string]any, 100)
			go func() {
				resp := h.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"_meta":%s,"name":"ask","arguments":{"model":"m","userPrompt":"hold on"}}}`, meta(version, "c5")))
				events(resp.Body, ch)
				resp.Body.Close()
			}()
			<-arrived
			resp := h.post(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,"reason":"user"}}`)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("notifications/cancelled: HTTP %d, want 202", resp.StatusCode)
			}
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Error("the upstream request was not cancelled")
			}
			timeout := time.After(5 * time.Second)
		read:
			for {
				select {
				case m, ok := <-ch:
					if !ok {
						break read
					}
					if fmt.Sprint(m["id"]) == "5" {
						t.Errorf("a response came for the cancelled call: %v", m)
					}
				case <-timeout:
					t.Fatal("the cancelled call's stream did not end")
				}
			}
			// The session goes on.
			ok := h.post(`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"_meta":` + meta(version, "c6") + `,"name":"ask","arguments":{"model":"m","userPrompt":"next"}}}`)
			b, _ := io.ReadAll(ok.Body)
			ok.Body.Close()
			if ok.StatusCode != 200 || !strings.Contains(string(b), `"answer":"4"`) {
				t.Errorf("after the cancel: %d %s", ok.StatusCode, b)
			}
		})
	}
}

// Findings 6 and 7 on legacy SSE: progress on the stream before the result;
// after a cancellation, no response for the id.
func TestSSEProgressAndCancel(t *testing.T) {
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	fake.Set(func(d *nanogpttest.Docs) { d.SpeechAsync, d.Polls = true, 3 })
	base := startHTTP(t, []string{"NANOGPT_API_KEY=" + serverKey, "NANOGPT_BASE_URL=" + fake.URL, "NANOGPT_MCP_AUTH_TOKENS=" + token, "NANOGPT_MCP_POLL_INTERVAL=10ms"})
	req, _ := http.NewRequest("GET", base+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	br := bufio.NewReader(resp.Body)
	var endpoint string
	for endpoint == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			endpoint = data
		}
	}
	ch := make(chan map[string]any, 1000)
	go events(br, ch)
	post := func(body string) {
		req, err := http.NewRequest("POST", base+endpoint, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s: %d", body, r.StatusCode)
		}
	}
	next := func(id string) []map[string]any {
		var got []map[string]any
		for {
			select {
			case m := <-ch:
				got = append(got, m)
				if fmt.Sprint(m["id"]) == id && m["method"] == nil {
					return got
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no response to %s", id)
			}
		}
	}
	post(`{"jsonrpc":"2.0","id":"i","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wire","version":"1"}}}`)
	next("i")
	post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for n := range 5 {
		id := fmt.Sprint(n)
		post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"_meta":{"progressToken":"s%s"},"name":"createSpeech","arguments":{"model":"Elevenlabs-V3","input":"hi","output":"inline"}}}`, id, id))
		progress := 0
		for _, m := range next(id) {
			if m["method"] == "notifications/progress" {
				progress++
			}
		}
		if progress == 0 {
			t.Errorf("call %s: no progress before its result", id)
		}
	}
	arrived, release := holdChat(fake)
	defer release()
	post(`{"jsonrpc":"2.0","id":50,"method":"tools/call","params":{"_meta":{"progressToken":"hold"},"name":"ask","arguments":{"model":"m","userPrompt":"hold on"}}}`)
	<-arrived
	post(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":50}}`)
	time.Sleep(200 * time.Millisecond)
	post(`{"jsonrpc":"2.0","id":"p","method":"ping"}`)
	for _, m := range next("p") {
		switch {
		case m["method"] == "notifications/progress" && fmt.Sprint(m["params"].(map[string]any)["progressToken"]) != "hold":
			t.Errorf("a progress notification came after its call's result: %v", m)
		case fmt.Sprint(m["id"]) == "50":
			t.Errorf("a response came for the cancelled call: %v", m)
		}
	}
}
