package stdio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A tool call can carry a file as a data: URL of several megabytes. Handed to
// mcp-go whole, that string is copied by every parse of the message (mcp-go
// parses a request four times, then decodes the arguments twice), which made
// a 3 MB upload cost over ten times its size in memory. So the reader lifts
// every large base64 data: URL out of the message as it reads it, keeps its
// payload in a Blob, and leaves in its place a short reference,
// BlobScheme + index, that the tools resolve through the request's context
// (BlobFrom). Nothing else of the message changes.

// BlobScheme starts the reference that replaces a lifted data: URL.
const BlobScheme = "nanogpt-mcp-blob:"

// blobThreshold is the payload size from which a data: URL is lifted.
const blobThreshold = 64 << 10

// blobChunk is the size of the blocks a payload is kept in: growing one
// buffer would leave copies behind as garbage.
const blobChunk = 256 << 10

// Blob is the base64 payload of a data: URL lifted out of a message.
type Blob struct {
	header string // what stood between "data:" and the comma, e.g. "audio/wav;base64"
	chunks [][]byte
	size   int
}

// Header is the data: URL's media type and parameters, e.g. "audio/wav;base64".
func (b *Blob) Header() string { return b.header }

// Len is the length of the base64 text.
func (b *Blob) Len() int { return b.size }

// DataURL reassembles the data: URL (for callers that need it as text).
func (b *Blob) DataURL() string {
	var s strings.Builder
	s.Grow(len("data:") + len(b.header) + 1 + b.size)
	s.WriteString("data:" + b.header + ",")
	for _, c := range b.chunks {
		s.Write(c)
	}
	return s.String()
}

// Decode decodes the base64 payload into one buffer of the exact size,
// refusing more than max bytes before decoding anything. Line breaks are
// skipped, and the URL-safe alphabet is accepted. Once decoded, the text is
// let go (the request needs the bytes only once), so that the two are not
// held together for the rest of the call.
func (b *Blob) Decode(max int64) ([]byte, error) {
	n := 0 // the characters that carry data
	for _, c := range b.chunks {
		for _, ch := range c {
			if !isSpace(ch) && ch != '=' {
				n++
			}
		}
	}
	size := n / 4 * 3
	switch n % 4 {
	case 1:
		return nil, errors.New("the base64 data in the data: URL is malformed")
	case 2:
		size++
	case 3:
		size += 2
	}
	if int64(size) > max {
		return nil, &TooLargeError{Size: int64(size), Max: max}
	}
	out := make([]byte, 0, size)
	var quad [4]byte
	q := 0
	for _, c := range b.chunks {
		for _, ch := range c {
			switch {
			case isSpace(ch) || ch == '=':
				continue
			case ch == '-':
				ch = '+'
			case ch == '_':
				ch = '/'
			}
			quad[q] = ch
			if q++; q == 4 {
				var dst [3]byte
				if _, err := base64.StdEncoding.Decode(dst[:], quad[:]); err != nil {
					return nil, errors.New("the base64 data in the data: URL is malformed")
				}
				out = append(out, dst[:]...)
				q = 0
			}
		}
	}
	if q > 0 {
		var dst [3]byte
		m, err := base64.RawStdEncoding.Decode(dst[:], quad[:q])
		if err != nil {
			return nil, errors.New("the base64 data in the data: URL is malformed")
		}
		out = append(out, dst[:m]...)
	}
	b.chunks, b.size = nil, 0
	return out, nil
}

// TooLargeError is a lifted payload over the size asked for.
type TooLargeError struct{ Size, Max int64 }

func (e *TooLargeError) Error() string {
	return "the data is " + strconv.FormatInt(e.Size, 10) + " bytes, more than the " + strconv.FormatInt(e.Max, 10) + " allowed"
}

// TooLarge marks the error for callers that test for it by behaviour.
func (e *TooLargeError) TooLarge() bool { return true }

func isSpace(c byte) bool { return c == '\n' || c == '\r' || c == ' ' || c == '\t' }

func (b *Blob) write(p []byte) {
	for len(p) > 0 {
		if len(b.chunks) == 0 || len(b.chunks[len(b.chunks)-1]) == blobChunk {
			b.chunks = append(b.chunks, make([]byte, 0, blobChunk))
		}
		last := &b.chunks[len(b.chunks)-1]
		n := min(len(p), blobChunk-len(*last))
		*last = append(*last, p[:n]...)
		b.size += n
		p = p[n:]
	}
}

type blobsKey struct{}

func withBlobs(ctx context.Context, blobs []*Blob) context.Context {
	return context.WithValue(ctx, blobsKey{}, blobs)
}

// BlobFrom resolves a reference (BlobScheme + index) that the reader put in
// place of a data: URL in this request, and reports whether ref is one.
func BlobFrom(ctx context.Context, ref string) (*Blob, bool) {
	idx, ok := strings.CutPrefix(ref, BlobScheme)
	if !ok {
		return nil, false
	}
	blobs, _ := ctx.Value(blobsKey{}).([]*Blob)
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 || i >= len(blobs) {
		return nil, false
	}
	return blobs[i], true
}

// message is one line read, with the payloads lifted out of it.
type message struct {
	line  []byte
	blobs []*Blob
}

// scanner states for a string being read
const (
	strPlain  = iota // an ordinary string (or one too short or not base64 to lift)
	strHeader        // starts like "data:", the header is being read
	strBase64        // a base64 data: URL, still short enough to stay in the line
	strBlob          // lifted: its payload goes to the blob
)

// scan is the state of next between chunks.
type scan struct {
	m       message
	inStr   bool
	state   int
	escaped bool   // the previous byte of the string was a backslash (kept in the line)
	start   int    // index in m.line of the current string's opening quote
	payload int    // index in m.line where a data: URL's payload starts
	blob    *Blob  // the payload being lifted
	esc     []byte // an escape sequence in a lifted payload, being read
}

// next reads one message: the bytes up to the next newline, with every large
// base64 data: URL lifted out (see Blob).
func (r *reader) next() (message, error) {
	var st scan
	total := 0
	for {
		chunk, err := r.br.ReadSlice('\n')
		total += len(chunk)
		if total > r.max {
			for errors.Is(err, bufio.ErrBufferFull) { // skip the rest of the line without keeping it
				_, err = r.br.ReadSlice('\n')
			}
			if err == nil || errors.Is(err, io.EOF) {
				err = errLineTooLong
			}
			return message{}, err
		}
		if st.feed(chunk) {
			return st.m, nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if st.blob != nil { // the input ended inside a lifted string: keep what came
				st.m.line = append(st.m.line, st.blob.DataURL()...)
			}
			return st.m, err
		}
	}
}

// feed scans one chunk, and reports whether it ended the message (a newline).
// Each state's step consumes some of the chunk and says whether the message
// ended.
func (st *scan) feed(chunk []byte) bool {
	for len(chunk) > 0 {
		var ended bool
		switch {
		case !st.inStr:
			chunk, ended = st.outside(chunk)
		case st.state == strBlob:
			chunk, ended = st.lifted(chunk)
		case st.escaped:
			st.m.line = append(st.m.line, chunk[0])
			chunk, st.escaped = chunk[1:], false
		case st.state == strHeader:
			chunk, ended = st.header(chunk)
		default:
			chunk, ended = st.plain(chunk)
		}
		if ended {
			return true
		}
	}
	return false
}

// outside copies up to the next string or the end of the message.
func (st *scan) outside(chunk []byte) ([]byte, bool) {
	i := bytes.IndexAny(chunk, "\"\n")
	if i < 0 {
		st.m.line = append(st.m.line, chunk...)
		return nil, false
	}
	st.m.line = append(st.m.line, chunk[:i+1]...)
	if chunk[i] == '\n' {
		return nil, true
	}
	st.inStr, st.state, st.escaped, st.start = true, strHeader, false, len(st.m.line)-1
	return chunk[i+1:], false
}

// lifted moves a lifted payload into its blob, decoding escapes, until the
// string ends; the line gets the reference in its place.
func (st *scan) lifted(chunk []byte) ([]byte, bool) {
	if len(st.esc) > 0 || chunk[0] == '\\' {
		st.esc = append(st.esc, chunk[0])
		if s, done := unescape(st.esc); done {
			st.blob.write(s)
			st.esc = st.esc[:0]
		}
		return chunk[1:], false
	}
	i := bytes.IndexAny(chunk, "\"\\\n")
	if i < 0 {
		st.blob.write(chunk)
		return nil, false
	}
	st.blob.write(chunk[:i])
	switch chunk[i] {
	case '\n':
		return nil, true // a raw newline ends the message, even inside a string
	case '"':
		st.m.line = append(st.m.line, '"')
		st.m.line = append(st.m.line, BlobScheme+strconv.Itoa(len(st.m.blobs))...)
		st.m.line = append(st.m.line, '"')
		st.m.blobs = append(st.m.blobs, st.blob)
		st.blob, st.inStr = nil, false
		return chunk[i+1:], false
	}
	return chunk[i:], false // the backslash: the next step reads the escape
}

// header reads the start of a string byte by byte (a few hundred bytes at
// most), to tell a base64 data: URL from any other string.
func (st *scan) header(chunk []byte) ([]byte, bool) {
	c := chunk[0]
	st.m.line = append(st.m.line, c)
	n := len(st.m.line) - st.start - 1 // the string's length so far
	switch {
	case c == '\n':
		return nil, true
	case c == '"':
		st.inStr = false
	case c == '\\':
		st.state, st.escaped = strPlain, true // an escape in a header: leave the string alone
	case n <= len("data:"):
		if !strings.HasPrefix("data:", strings.ToLower(string(st.m.line[st.start+1:]))) {
			st.state = strPlain
		}
	case c == ',':
		st.state = strPlain
		if header := strings.ToLower(string(st.m.line[st.start+1+len("data:") : len(st.m.line)-1])); strings.Contains(header, ";base64") {
			st.state, st.payload = strBase64, len(st.m.line)
		}
	case n > 256:
		st.state = strPlain
	}
	return chunk[1:], false
}

// plain copies a string (or a data: URL still short enough to keep) up to
// its next quote, backslash or newline, and lifts a data: URL once it is
// large enough to matter, or escaped (escapes are decoded in the blob).
func (st *scan) plain(chunk []byte) ([]byte, bool) {
	i := bytes.IndexAny(chunk, "\"\\\n")
	run := chunk
	if i >= 0 {
		run = chunk[:i]
	}
	st.m.line = append(st.m.line, run...)
	chunk = chunk[len(run):]
	if st.state == strBase64 && (len(st.m.line)-st.payload > blobThreshold || i >= 0 && chunk[0] == '\\') {
		st.blob = &Blob{header: string(st.m.line[st.start+1+len("data:") : st.payload-1])}
		st.blob.write(st.m.line[st.payload:])
		st.m.line = st.m.line[:st.start]
		st.state = strBlob
		return chunk, false
	}
	if i < 0 {
		return nil, false
	}
	st.m.line = append(st.m.line, chunk[0])
	switch chunk[0] {
	case '\n':
		return nil, true
	case '"':
		st.inStr = false
	case '\\':
		st.escaped = true
	}
	return chunk[1:], false
}

// unescape decodes a JSON escape sequence (starting with the backslash) once
// it is complete.
func unescape(seq []byte) (out []byte, done bool) {
	if len(seq) < 2 {
		return nil, false
	}
	switch seq[1] {
	case 'n', 'r', 't', 'b', 'f':
		return nil, true // whitespace, which base64 skips anyway
	case 'u':
		if len(seq) < 6 {
			return nil, false
		}
		v, err := strconv.ParseUint(string(seq[2:6]), 16, 16)
		if err != nil {
			return seq, true // not valid JSON: leave it for the base64 decoder to refuse
		}
		return utf8.AppendRune(nil, rune(v)), true
	}
	return seq[1:2], true // \/ \\ \"
}
