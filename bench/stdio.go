package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"time"
)

// protocolVersion is what the bench client speaks (the initialize handshake).
const protocolVersion = "2025-06-18"

// stdioServer is a server process driven with raw JSON-RPC lines over its
// stdin and stdout: the cheapest client there is, so timings are the server's.
type stdioServer struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *lockedBuffer
	done   chan error
	nextID int
}

// rpcResponse is the part of a JSON-RPC message the bench looks at.
type rpcResponse struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// startStdio starts cmd without waiting for anything: the caller writes the
// initialize request at once (see initialize), as an assistant does.
func startStdio(name string, cmd *exec.Cmd) (*stdioServer, error) {
	s := &stdioServer{name: name, cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	var err error
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.stdout = bufio.NewReaderSize(out, 64<<10)
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, cmd.Path, err)
	}
	go func() { s.done <- cmd.Wait() }()
	return s, nil
}

// request builds one JSON-RPC request line with a fresh id.
func (s *stdioServer) request(method string, params any) ([]byte, int) {
	s.nextID++
	b, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": s.nextID, "method": method, "params": params})
	if err != nil {
		panic(err)
	}
	return append(b, '\n'), s.nextID
}

// roundTrip writes line and reads until the response to id arrives, returning
// that response line. Notifications and other messages on the way are skipped.
func (s *stdioServer) roundTrip(line []byte, id int) ([]byte, error) {
	if _, err := s.stdin.Write(line); err != nil {
		return nil, s.failed(fmt.Errorf("write: %w", err))
	}
	want := []byte(strconv.Itoa(id))
	for {
		resp, err := s.stdout.ReadBytes('\n')
		if err != nil {
			return nil, s.failed(fmt.Errorf("read: %w", err))
		}
		var r rpcResponse
		if err := json.Unmarshal(resp, &r); err != nil {
			return nil, s.failed(fmt.Errorf("bad JSON-RPC line %.200q: %w", resp, err))
		}
		if r.Method == "" && bytes.Equal(bytes.TrimSpace(r.ID), want) {
			return resp, nil
		}
	}
}

// call sends a request and returns its result (an error for a JSON-RPC error).
func (s *stdioServer) call(method string, params any) (json.RawMessage, error) {
	line, id := s.request(method, params)
	resp, err := s.roundTrip(line, id)
	if err != nil {
		return nil, err
	}
	return resultOf(resp)
}

func resultOf(resp []byte) (json.RawMessage, error) {
	var r rpcResponse
	if err := json.Unmarshal(resp, &r); err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, fmt.Errorf("JSON-RPC error %d: %s", r.Error.Code, r.Error.Message)
	}
	return r.Result, nil
}

// initParams are the initialize request's parameters.
var initParams = map[string]any{
	"protocolVersion": protocolVersion,
	"capabilities":    map[string]any{},
	"clientInfo":      map[string]any{"name": "nanogpt-mcp-bench", "version": "1"},
}

// initialize performs the handshake and returns the time from start until the
// initialize response arrived.
func (s *stdioServer) initialize(started time.Time) (time.Duration, error) {
	line, id := s.request("initialize", initParams)
	resp, err := s.roundTrip(line, id)
	took := time.Since(started)
	if err != nil {
		return 0, err
	}
	if _, err := resultOf(resp); err != nil {
		return 0, s.failed(err)
	}
	if _, err := s.stdin.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n")); err != nil {
		return 0, s.failed(err)
	}
	return took, nil
}

// failed adds the server's stderr to err.
func (s *stdioServer) failed(err error) error {
	select {
	case werr := <-s.done:
		s.done <- werr
		return fmt.Errorf("%s: %w (server exited: %v)\nstderr:\n%s", s.name, err, werr, tail(s.stderr.String()))
	case <-time.After(100 * time.Millisecond):
	}
	return fmt.Errorf("%s: %w\nstderr:\n%s", s.name, err, tail(s.stderr.String()))
}

// close ends the server: EOF on stdin, then signals if it lingers.
func (s *stdioServer) close() {
	_ = s.stdin.Close()
	stop(s.cmd, s.done, 3*time.Second)
}

// pid is the server's process id.
func (s *stdioServer) pid() int { return s.cmd.Process.Pid }

// toolResult checks a tools/call result: not an error, and holding want.
func toolResult(raw json.RawMessage, want string) error {
	var r struct {
		IsError bool `json:"isError"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("tool result is not JSON: %w", err)
	}
	text := ""
	if len(r.Content) > 0 {
		text = r.Content[0].Text
	}
	if r.IsError {
		return fmt.Errorf("tool answered with an error: %.300s", text)
	}
	if want != "" && !bytes.Contains(raw, []byte(want)) {
		return fmt.Errorf("tool result lacks %q: %.300s", want, raw)
	}
	return nil
}
