// Package jsonrpc reads JSON-RPC request ids the way every transport here
// must: MCP allows a string or an integer, nothing else.
package jsonrpc

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Key normalises an id into a map key: "s…" for a string, "n…" for an
// integer, so that "7" and 7 stay apart and 7 matches 7. ok is false for
// anything that is not a valid id (a boolean, an object, an array, null, a
// fraction, an integer beyond int64): such requests are refused.
func Key(raw json.RawMessage) (key string, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return "s" + s, true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return "", false
		}
		return "n" + strconv.FormatInt(n, 10), true
	}
	return "", false
}

// Value returns a valid id as mcp-go carries it: a string or an int64.
func Value(raw json.RawMessage) any {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	n, _ := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	return n
}
