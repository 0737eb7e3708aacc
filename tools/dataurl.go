package tools

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
)

// parseDataURL decodes data:[<type>][;base64],<data>, refusing more than max bytes.
func parseDataURL(raw string, max int64) (string, []byte, error) {
	header, payload, ok := strings.Cut(raw[len("data:"):], ",")
	if !ok {
		return "", nil, errors.New("malformed data: URL (no comma)")
	}
	params := strings.Split(header, ";")
	mt := normMIME(params[0])
	b64 := false
	for _, p := range params[1:] {
		if strings.EqualFold(strings.TrimSpace(p), "base64") {
			b64 = true
		}
	}
	if b64 {
		// Refuse an oversized payload before copying or decoding it. Count
		// only the characters that carry data: line breaks are skipped, and
		// %XX (RFC 2397 allows it) stands for one character.
		n := 0
		for i := 0; i < len(payload); i++ {
			switch payload[i] {
			case '\n', '\r', ' ', '\t':
			case '%':
				n--
			default:
				n++
			}
		}
		if int64(base64.StdEncoding.DecodedLen(n)) > max+2 {
			return "", nil, tooLarge("the data is larger than %s", humanBytes(max))
		}
		if strings.Contains(payload, "%") {
			unescaped, err := url.PathUnescape(payload)
			if err != nil {
				return "", nil, errors.New("the base64 data in the data: URL is malformed")
			}
			payload = unescaped
		}
		payload = strings.Map(func(r rune) rune { // tolerate line breaks and URL-safe alphabets
			switch r {
			case '\n', '\r', ' ', '\t':
				return -1
			case '-':
				return '+'
			case '_':
				return '/'
			}
			return r
		}, payload)
		data, err := base64.StdEncoding.DecodeString(payload)
		if err != nil {
			data, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(payload, "="))
		}
		if err != nil {
			return "", nil, errors.New("the base64 data in the data: URL is malformed")
		}
		if int64(len(data)) > max {
			return "", nil, tooLarge("the data is larger than %s", humanBytes(max))
		}
		return mt, data, nil
	}
	if int64(len(payload)) > 3*max { // each byte takes at most 3 characters (%XX)
		return "", nil, tooLarge("the data is larger than %s", humanBytes(max))
	}
	text, err := url.PathUnescape(payload)
	if err != nil {
		return "", nil, errors.New("the data: URL is not properly percent-encoded")
	}
	if int64(len(text)) > max {
		return "", nil, tooLarge("the data is larger than %s", humanBytes(max))
	}
	if mt == "" {
		mt = "text/plain"
	}
	return mt, []byte(text), nil
}
