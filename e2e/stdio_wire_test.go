package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// The stdio wire, read line by line: what exactly the server writes after a
// cancellation, and whether a cancelled call that waits for a worker ever
// reaches NanoGPT.

type stdioWire struct {
	t     *testing.T
	in    io.WriteCloser
	lines chan map[string]any
}

func startStdioWire(t *testing.T, fake *nanogpttest.Docs, args ...string) *stdioWire {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = serverEnv("NANOGPT_API_KEY="+serverKey, "NANOGPT_BASE_URL="+fake.URL, "NANOGPT_MCP_OUTPUT_DIR="+t.TempDir(), "NANOGPT_MCP_POLL_INTERVAL=10ms")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &stdioWire{t: t, in: in, lines: make(chan map[string]any, 100)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("stdout carries a line that is not JSON-RPC: %q", sc.Text())
				continue
			}
			w.lines <- m
		}
		close(w.lines)
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the server did not exit when stdin closed")
		}
		noSecrets(t, "the server's log", stderr.String())
	})
	w.send(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wire","version":"1"}}}`)
	w.until("init")
	w.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return w
}

func (w *stdioWire) send(line string) {
	if _, err := io.WriteString(w.in, line+"\n"); err != nil {
		w.t.Fatal(err)
	}
}

// until reads messages until the response to id, and returns all of them.
func (w *stdioWire) until(id string) []map[string]any {
	w.t.Helper()
	var got []map[string]any
	timeout := time.After(15 * time.Second)
	for {
		select {
		case m, ok := <-w.lines:
			if !ok {
				w.t.Fatalf("stdout closed before the response to %s", id)
			}
			got = append(got, m)
			if fmt.Sprint(m["id"]) == id && m["method"] == nil {
				return got
			}
		case <-timeout:
			w.t.Fatalf("no response to %s; read %v", id, got)
		}
	}
}

func askLine(id, prompt string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"ask","arguments":{"model":"m","userPrompt":%q}}}`, id, prompt)
}

// holdChat makes the fake hold every chat request whose prompt starts with
// "hold" until release is closed (or the request ends); it reports the prompts
// that arrived.
func holdChat(fake *nanogpttest.Docs) (arrived chan string, release func()) {
	arrived = make(chan string, 10)
	stop := make(chan struct{})
	fake.Set(func(d *nanogpttest.Docs) {
		d.Block = func(r *http.Request, body map[string]any) {
			prompt := ""
			if msgs, _ := body["messages"].([]any); len(msgs) > 0 {
				last, _ := msgs[len(msgs)-1].(map[string]any)
				prompt, _ = last["content"].(string)
			}
			arrived <- prompt
			if strings.HasPrefix(prompt, "hold") {
				select {
				case <-stop:
				case <-r.Context().Done():
				}
			}
		}
	})
	return arrived, sync.OnceFunc(func() { close(stop) })
}

// Finding 7: after notifications/cancelled, nothing is sent for the id.
func TestStdioNoResponseAfterCancel(t *testing.T) {
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	arrived, release := holdChat(fake)
	defer release()
	w := startStdioWire(t, fake)
	w.send(askLine("7", "hold on"))
	<-arrived
	w.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"user"}}`)
	time.Sleep(200 * time.Millisecond) // the cancelled call ends meanwhile
	w.send(`{"jsonrpc":"2.0","id":8,"method":"ping"}`)
	w.send(askLine("9", "and now?"))
	for _, m := range w.until("9") {
		if fmt.Sprint(m["id"]) == "7" {
			t.Errorf("a response was sent for the cancelled request 7: %v", m)
		}
	}
}

// Finding 8: a call still waiting for a worker sees its cancellation and
// never reaches NanoGPT.
func TestStdioQueuedCancelNeverRuns(t *testing.T) {
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	arrived, release := holdChat(fake)
	w := startStdioWire(t, fake, "--workers", "1")
	w.send(askLine("1", "hold the only worker"))
	if p := <-arrived; p != "hold the only worker" {
		t.Fatalf("first to arrive: %q", p)
	}
	w.send(askLine("2", "queued, then cancelled"))
	time.Sleep(100 * time.Millisecond)
	w.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`)
	time.Sleep(100 * time.Millisecond)
	release()
	w.send(askLine("3", "after"))
	msgs := w.until("3")
	close(arrived)
	for p := range arrived {
		if p == "queued, then cancelled" {
			t.Error("the cancelled queued call reached NanoGPT")
		}
	}
	for _, m := range msgs {
		if fmt.Sprint(m["id"]) == "2" {
			t.Errorf("a response was sent for the cancelled request 2: %v", m)
		}
	}
}

// Finding 6 on stdio: every progress notification of a call comes before its
// result (async transcription, polled).
func TestStdioProgressBeforeResult(t *testing.T) {
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	fake.Set(func(d *nanogpttest.Docs) { d.TranscribeAsync, d.SpeechAsync, d.Polls = true, true, 3 })
	w := startStdioWire(t, fake)
	for i, call := range []string{
		`{"name":"createTranscription","arguments":{"model":"Elevenlabs-STT","file":{"url":"data:audio/wav;base64,UklGRiQIAABXQVZF","name":"a.wav"}}}`,
		`{"name":"createSpeech","arguments":{"model":"Elevenlabs-V3","input":"hi","output":"inline"}}`,
	} {
		for n := range 5 {
			id := fmt.Sprint(100*i + n)
			w.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":%s}`, id, strings.Replace(call, `{"name"`, `{"_meta":{"progressToken":"t`+id+`"},"name"`, 1)))
			msgs := w.until(id)
			seen := 0
			for _, m := range msgs {
				if m["method"] == "notifications/progress" {
					seen++
				}
			}
			if seen == 0 {
				t.Errorf("call %s: no progress before its result", id)
			}
		}
	}
	w.send(`{"jsonrpc":"2.0","id":"last","method":"ping"}`)
	for _, m := range w.until("last") {
		if m["method"] == "notifications/progress" {
			t.Errorf("a progress notification came after its call's result: %v", m)
		}
	}
}

// A data: URL large enough to be lifted out of the message by the stdio
// reader reaches NanoGPT byte for byte.
func TestStdioLargeDataURL(t *testing.T) {
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	w := startStdioWire(t, fake)
	audio := append(append([]byte(nil), nanogpttest.Audio[:44]...), make([]byte, 2<<20)...)
	for i := range audio[44:] {
		audio[44+i] = byte(i * 7)
	}
	url := "data:audio/wav;base64," + base64.StdEncoding.EncodeToString(audio)
	// Some encoders escape the slash: the reader decodes that too.
	w.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"createTranscription","arguments":{"model":"Whisper-Large-V3","file":{"url":"` +
		strings.ReplaceAll(url, "/", `\/`) + `","name":"big.wav"}}}}`)
	msgs := w.until("1")
	if res, _ := msgs[len(msgs)-1]["result"].(map[string]any); res == nil || res["isError"] == true {
		t.Fatalf("the call failed: %v", msgs[len(msgs)-1])
	}
	req, ok := fake.Last("/api/transcribe")
	if !ok || !bytes.Contains(req.Body, audio) {
		t.Error("NanoGPT did not receive the audio byte for byte")
	}
}
