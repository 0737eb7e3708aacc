package nanogpt

// Values NanoGPT sends loosely: numbers as strings, codes as numbers, nulls.

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// optFloat is a JSON number that NanoGPT may also send as a string (or null).
// Anything else leaves it unset rather than failing the decode.
type optFloat struct {
	V   float64
	Set bool
}

func (f *optFloat) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" || s == `""` {
		*f = optFloat{}
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(uq)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		*f = optFloat{} // an odd value in metadata must not sink a paid answer
		return nil
	}
	*f = optFloat{V: v, Set: true}
	return nil
}

// ptr returns the value as a *float64, nil when absent.
func (f optFloat) ptr() *float64 {
	if !f.Set {
		return nil
	}
	v := f.V
	return &v
}

// String formats the value for a query or form (empty when absent).
func (f optFloat) String() string {
	if !f.Set {
		return ""
	}
	return strconv.FormatFloat(f.V, 'f', -1, 64)
}

// rawCode turns a JSON string or number into a string (codes, balances).
func rawCode(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// rawOrNil drops an absent or null JSON value.
func rawOrNil(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	return raw
}

// orNull returns raw, or the JSON null when it is absent.
func orNull(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("null")
	}
	return raw
}

// hasValue reports a JSON value that says something: present, not null, not false.
func hasValue(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null")) && !bytes.Equal(raw, []byte("false"))
}
