package jsonrpc

import (
	"bytes"
	"encoding/json"
)

// Task is the part of a request's params that asks for it to run as a task
// (MCP 2025-11-25): the request is answered at once with the task, and the
// work goes on after that answer.
type Task struct {
	Task json.RawMessage `json:"task"`
}

// Asked reports whether the params carried a task.
func (t Task) Asked() bool {
	return len(t.Task) > 0 && !bytes.Equal(bytes.TrimSpace(t.Task), []byte("null"))
}
