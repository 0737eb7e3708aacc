package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// Cancellation: a cancelled call must release its NanoGPT request, its polling
// and its retry waits within 100 ms, on every transport. The tests measure the
// latency and log it; they fail above relCancelBound, which is generous
// against the noise of a loaded CI machine.
const relCancelBound = 500 * time.Millisecond

func relCall(name string, args map[string]any) mcp.CallToolRequest {
	var req mcp.CallToolRequest
	req.Params.Name, req.Params.Arguments = name, args
	req.Params.Meta = &mcp.Meta{ProgressToken: "rel"}
	return req
}

// relBinary starts the built server over stdio with the fake as NanoGPT.
func relBinary(t *testing.T, fake *nanogpttest.Held, args ...string) (*exec.Cmd, *client.Client, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "NANOGPT_BASE_URL="+fake.URL, "NANOGPT_API_KEY="+e2eKey, "NANOGPT_MCP_OUTPUT_DIR="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := client.NewClient(transport.NewIO(stdout, stdin, io.NopCloser(strings.NewReader(""))), client.WithProtocolVersion(mcp.ProtocolVersion20250618))
	t.Cleanup(func() { c.Close() })
	initClient(t, c)
	return cmd, c, &stderr
}

// TestRelCancelBinary cancels calls of the built server: with
// notifications/cancelled (mcp-go's client sends it when the call's context
// ends), and by SIGTERM.
func TestRelCancelBinary(t *testing.T) {
	fake := newHeld(t)
	cmd, c, stderr := relBinary(t, fake)
	for _, marker := range []string{"hang", "stream-hang"} {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _, _ = c.CallTool(ctx, relCall("ask", map[string]any{"model": "m", "userPrompt": marker})) }()
		<-fake.Started
		at := time.Now()
		cancel()
		select {
		case r := <-fake.Released:
			t.Logf("binary, notifications/cancelled, %s: NanoGPT request released %s after the cancel", marker, r.Sub(at).Round(10*time.Microsecond))
			if r.Sub(at) > relCancelBound {
				t.Errorf("%s: released after %s", marker, r.Sub(at))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: NanoGPT request not released after notifications/cancelled", marker)
		}
	}

	go func() {
		_, _ = c.CallTool(context.Background(), relCall("ask", map[string]any{"model": "m", "userPrompt": "hang"}))
	}()
	<-fake.Started
	at := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-fake.Released:
		t.Logf("binary, SIGTERM: NanoGPT request released %s after the signal", r.Sub(at).Round(10*time.Microsecond))
		if r.Sub(at) > relCancelBound {
			t.Errorf("SIGTERM: released after %s", r.Sub(at))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("NanoGPT request not released after SIGTERM")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Error("the server did not exit after SIGTERM")
	}
}

// TestRelConcurrentCallsOverStdio checks that calls do not queue behind each
// other over stdio (the worker pool is sized for I/O-bound calls) and that a
// cancellation is read while every other call is busy.
func TestRelConcurrentCallsOverStdio(t *testing.T) {
	fake := newHeld(t)
	_, c, _ := relBinary(t, fake)
	const n = 31 // with the cancelled one below: the default 32 workers, all busy
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			res, err := c.CallTool(context.Background(), relCall("ask", map[string]any{"model": "m", "userPrompt": fmt.Sprintf("slow %d", i)}))
			switch {
			case err != nil:
				errs <- err
			case res.IsError || mcp.GetTextFromContent(res.Content[0]) != fmt.Sprintf("done: slow %d", i):
				errs <- fmt.Errorf("call %d: %+v", i, res.Content)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = c.CallTool(ctx, relCall("ask", map[string]any{"model": "m", "userPrompt": "hang"})) }()
	<-fake.Started
	at := time.Now()
	cancel()
	select {
	case r := <-fake.Released:
		t.Logf("cancel with %d other calls in flight: released %s after", n, r.Sub(at).Round(10*time.Microsecond))
		if r.Sub(at) > relCancelBound {
			t.Errorf("cancel with every worker busy took %s", r.Sub(at))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel not read while the workers were busy")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// 31 calls of 300ms each: one round if they ran together, 31 rounds if not.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("%d concurrent 300ms calls took %s: they queued", n, d)
	} else {
		t.Logf("%d concurrent 300ms calls took %s", n, d.Round(time.Millisecond))
	}
}

// newHeld starts a nanogpttest.Held fake for the test.
func newHeld(t *testing.T) *nanogpttest.Held {
	t.Helper()
	f := nanogpttest.NewHeld(e2eKey)
	t.Cleanup(f.Close)
	return f
}
