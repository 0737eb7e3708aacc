package jsonrpc

import (
	"encoding/json"
	"testing"
)

func TestKey(t *testing.T) {
	for raw, want := range map[string]string{`"7"`: "s7", `7`: "n7", `-3`: "n-3", ` 12 `: "n12", `"a\"b"`: `sa"b`} {
		if got, ok := Key(json.RawMessage(raw)); !ok || got != want {
			t.Errorf("Key(%s) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{``, `null`, `true`, `{}`, `[]`, `1.5`, `1e3`, `99999999999999999999`, `"unterminated`} {
		if got, ok := Key(json.RawMessage(raw)); ok {
			t.Errorf("Key(%s) = %q: accepted an id that is not a string or an integer", raw, got)
		}
	}
	if Value(json.RawMessage(`"x"`)) != "x" || Value(json.RawMessage(`42`)) != int64(42) {
		t.Error("Value")
	}
}
