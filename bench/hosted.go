package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// httpServer is a server process serving streamable HTTP on a loopback port.
type httpServer struct {
	name   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan error
	url    string // http://127.0.0.1:port/mcp
}

// freeAddr finds a free loopback port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startHTTP starts a server built by mk for addr and waits until it accepts
// connections.
func startHTTP(name string, mk func(addr string) *exec.Cmd) (*httpServer, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := mk(addr)
	s := &httpServer{name: name, cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1), url: "http://" + addr + "/mcp"}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("%s: exited before listening: %v\nstderr:\n%s", name, err, tail(s.stderr.String()))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.close()
			return nil, fmt.Errorf("%s: not listening on %s within 15s\nstderr:\n%s", name, addr, tail(s.stderr.String()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// close interrupts the server (it drains and exits), killing it if it lingers.
func (s *httpServer) close() {
	if runtime.GOOS != "windows" {
		_ = s.cmd.Process.Signal(os.Interrupt)
	}
	stop(s.cmd, s.done, 10*time.Second)
}

// mcpSession is one streamable HTTP client with its session id.
type mcpSession struct {
	hc      *http.Client
	url     string
	session string
}

func (c *mcpSession) post(ctx context.Context, body []byte) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
		req.Header.Set("MCP-Protocol-Version", protocolVersion)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header, err
}

// open performs initialize and notifications/initialized.
func (c *mcpSession) open(ctx context.Context) error {
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initParams})
	status, data, h, err := c.post(ctx, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("initialize: HTTP %d: %.300s", status, data)
	}
	c.session = h.Get("Mcp-Session-Id") // empty with --stateless
	status, data, _, err = c.post(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	if err != nil {
		return err
	}
	if status != http.StatusAccepted && status != http.StatusOK {
		return fmt.Errorf("notifications/initialized: HTTP %d: %.300s", status, data)
	}
	return nil
}

// close ends the session (DELETE), as a well-behaved client does: the
// server caps the sessions one caller holds.
func (c *mcpSession) close(ctx context.Context) {
	if c.session == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
	if err != nil {
		return
	}
	req.Header.Set("Mcp-Session-Id", c.session)
	req.Header.Set("MCP-Protocol-Version", protocolVersion)
	if resp, err := c.hc.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// loadResult is one throughput run.
type loadResult struct {
	calls     int
	perSecond float64
	latencies []time.Duration
	mem       memStatus
	memErr    error
}

// runLoad has clients sessions call ask in a loop for warm+dur, counting the
// calls that finish within dur after warm. Any failed call is an error.
func runLoad(s *httpServer, clients int, warm, dur time.Duration) (loadResult, error) {
	tr := &http.Transport{MaxIdleConns: 2 * clients, MaxIdleConnsPerHost: 2 * clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ctx := context.Background()
	sessions := make([]*mcpSession, clients)
	defer func() {
		for _, c := range sessions {
			if c != nil {
				c.close(ctx)
			}
		}
	}()
	for i := range sessions {
		sessions[i] = &mcpSession{hc: hc, url: s.url}
		if err := sessions[i].open(ctx); err != nil {
			return loadResult{}, fmt.Errorf("%s: client %d: %w\nstderr:\n%s", s.name, i, err, tail(s.stderr.String()))
		}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": askParams()})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		lats     []time.Duration
		firstErr atomic.Value
	)
	start := time.Now()
	measureFrom, end := start.Add(warm), start.Add(warm+dur)
	for _, c := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				status, data, _, err := c.post(ctx, body)
				t1 := time.Now()
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("HTTP %d: %.300s", status, data)
				}
				if err == nil {
					err = checkHTTPResult(data)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if !t0.Before(measureFrom) && !t1.After(end) {
					local = append(local, t1.Sub(t0))
				}
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return loadResult{}, fmt.Errorf("%s: hosted call failed: %w\nstderr:\n%s", s.name, err, tail(s.stderr.String()))
	}
	r := loadResult{calls: len(lats), perSecond: float64(len(lats)) / dur.Seconds(), latencies: lats}
	r.mem, r.memErr = readMem(s.cmd.Process.Pid)
	return r, nil
}

// checkHTTPResult checks a tools/call answer, plain JSON or one SSE event.
// It is cheap on purpose: the clients share the CPU with the server.
func checkHTTPResult(data []byte) error {
	if !bytes.Contains(data, []byte(`"result"`)) || !bytes.Contains(data, []byte(chatAnswer)) || bytes.Contains(data, []byte(`"isError":true`)) {
		return fmt.Errorf("unexpected answer: %.300s", data)
	}
	return nil
}
