package stdio

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// restore puts the lifted data: URLs back, as text, for comparison.
func restore(t *testing.T, m message) any {
	t.Helper()
	line := string(m.line)
	for i := len(m.blobs) - 1; i >= 0; i-- {
		ref, _ := json.Marshal(BlobScheme + itoa(i))
		url, _ := json.Marshal(m.blobs[i].DataURL())
		if !strings.Contains(line, string(ref)) {
			t.Fatalf("line lacks the reference %s: %.200s", ref, line)
		}
		line = strings.Replace(line, string(ref), string(url), 1)
	}
	var v any
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		t.Fatalf("the line is not JSON after restoring: %v: %.300s", err, line)
	}
	return v
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestReaderLiftsLargeDataURLs(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	big := payload(300 << 10)
	small := payload(100)
	b64 := base64.StdEncoding.EncodeToString(big)
	cases := []struct {
		name  string
		line  string
		blobs int
		want  [][]byte
	}{
		{"plain", `{"a":"b","c":[1,2,"x\"y"]}`, 0, nil},
		{"small data URL stays", `{"url":"data:audio/wav;base64,` + base64.StdEncoding.EncodeToString(small) + `"}`, 0, nil},
		{"large data URL lifted", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"arguments":{"file":{"url":"data:audio/wav;base64,` + b64 + `","name":"a.wav"}}}}`, 1, [][]byte{big}},
		{"escaped slashes", `{"url":"data:image/png;base64,` + strings.ReplaceAll(b64, "/", `\/`) + `"}`, 1, [][]byte{big}},
		{"two of them, wrapped lines", `{"a":"data:x;base64,` + wrap(b64) + `","b":"data:y;charset=u;BASE64,` + b64 + `"}`, 2, [][]byte{big, big}},
		{"large but not base64", `{"a":"data:text/plain,` + strings.Repeat("%41", 30000) + `"}`, 0, nil},
		{"large ordinary string", `{"a":"` + strings.Repeat("z", 200000) + `","b":"data:"}`, 0, nil},
	}
	for _, tc := range cases {
		for _, size := range []int{16, 17, 4096, 64 << 10} {
			r := newReaderSize(strings.NewReader(tc.line+"\n"+`{"next":true}`+"\n"), maxLine, size)
			m, err := r.next()
			if err != nil {
				t.Fatalf("%s/%d: %v", tc.name, size, err)
			}
			if len(m.blobs) != tc.blobs {
				t.Fatalf("%s/%d: %d blobs, want %d", tc.name, size, len(m.blobs), tc.blobs)
			}
			var want any
			// Escaped line breaks in a lifted payload are dropped (base64 skips them).
			if err := json.Unmarshal([]byte(strings.ReplaceAll(tc.line, `\n`, "")), &want); err != nil {
				t.Fatal(err)
			}
			if got := restore(t, m); !reflect.DeepEqual(got, want) {
				t.Errorf("%s/%d: the restored message differs", tc.name, size)
			}
			for i, w := range tc.want {
				if i > 0 && len(tc.want) > 1 && m.blobs[i] == m.blobs[0] {
					t.Fatal("two URLs share a blob")
				}
				got, err := m.blobs[i].Decode(1 << 30)
				if err != nil || !bytes.Equal(got, w) {
					t.Errorf("%s/%d: blob %d decodes to %d bytes (%v), want %d", tc.name, size, i, len(got), err, len(w))
				}
				if cap(got) != len(got) {
					t.Errorf("%s/%d: decoded into cap %d for %d bytes, want one exact buffer", tc.name, size, cap(got), len(got))
				}
			}
			next, err := r.next()
			if err != nil || string(bytes.TrimSpace(next.line)) != `{"next":true}` {
				t.Errorf("%s/%d: the next message is %q (%v)", tc.name, size, next.line, err)
			}
		}
	}
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + `\n`)
		s = s[76:]
	}
	return b.String() + s
}

func TestBlobDecodeRefusesOversizeAndGarbage(t *testing.T) {
	line := `{"u":"data:a;base64,` + base64.StdEncoding.EncodeToString(make([]byte, 100<<10)) + `"}` + "\n"
	m, err := newReader(strings.NewReader(line), maxLine).next()
	if err != nil || len(m.blobs) != 1 {
		t.Fatalf("%v, %d blobs", err, len(m.blobs))
	}
	var tl *TooLargeError
	if _, err := m.blobs[0].Decode(1000); !errors.As(err, &tl) {
		t.Errorf("Decode(1000) = %v, want a TooLargeError", err)
	}
	bad := `{"u":"data:a;base64,` + strings.Repeat("!!!!", 20000) + `"}` + "\n"
	m, _ = newReader(strings.NewReader(bad), maxLine).next()
	if _, err := m.blobs[0].Decode(1 << 20); err == nil {
		t.Error("garbage base64 decoded without an error")
	}
}

func TestBlobFromResolvesOnlyThisRequestsBlobs(t *testing.T) {
	b := &Blob{header: "x;base64"}
	ctx := withBlobs(context.Background(), []*Blob{b})
	if got, ok := BlobFrom(ctx, BlobScheme+"0"); !ok || got != b {
		t.Error("the request's blob was not found")
	}
	for _, ref := range []string{BlobScheme + "1", BlobScheme + "-1", BlobScheme + "x", "data:x;base64,AAAA"} {
		if _, ok := BlobFrom(ctx, ref); ok {
			t.Errorf("%q resolved", ref)
		}
	}
	if _, ok := BlobFrom(context.Background(), BlobScheme+"0"); ok {
		t.Error("a reference resolved in a request without blobs")
	}
}

func TestReaderRefusesOverlongLines(t *testing.T) {
	r := newReaderSize(io.MultiReader(strings.NewReader(strings.Repeat("x", 5000)+"\n"), strings.NewReader(`{"ok":1}`+"\n")), 1000, 64)
	if _, err := r.next(); !errors.Is(err, errLineTooLong) {
		t.Fatalf("err = %v, want errLineTooLong", err)
	}
	if m, err := r.next(); err != nil || string(bytes.TrimSpace(m.line)) != `{"ok":1}` {
		t.Errorf("after a skipped line: %q, %v", m.line, err)
	}
}
