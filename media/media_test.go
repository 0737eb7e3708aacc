package media

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, s http.Handler, link string) (*http.Response, []byte) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u.RequestURI(), nil))
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestOwnersSeeTheirOwnOnly(t *testing.T) {
	s := New(Options{})
	a, err := s.Put("alice", "image", "png", "image/png", []byte("alice's"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("bob", "audio", "mp3", "audio/mpeg", []byte("bob's"), ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("bob", a.ID); ok {
		t.Error("bob reads alice's file")
	}
	if it, ok := s.Get("alice", a.ID); !ok || it.Name != "image-"+a.ID+".png" {
		t.Errorf("alice's file: %+v %v", it, ok)
	}
	if l := s.List("alice"); len(l) != 1 || l[0].ID != a.ID {
		t.Errorf("alice's list: %+v", l)
	}
	if IDOf(URI(a.ID)) != a.ID || IDOf("nanogpt://media/../x") != "" || IDOf("file:///etc/passwd") != "" {
		t.Error("URI and IDOf disagree")
	}
}

// The store holds at most MaxBytes of its own, dropping the oldest; files
// saved for the user are indexed, not counted, and never deleted.
func TestBoundedByBytesAndAge(t *testing.T) {
	dir := t.TempDir()
	user := filepath.Join(t.TempDir(), "mine.png")
	if err := os.WriteFile(user, []byte("user file"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(Options{MaxBytes: 10, TTL: 50 * time.Millisecond, Dir: dir})
	first, _ := s.Put("", "image", "png", "image/png", []byte("123456"), "")
	if _, err := s.Put("", "image", "png", "image/png", []byte("12345678901"), ""); err != ErrTooLarge {
		t.Errorf("a file over the whole store: %v", err)
	}
	second, _ := s.Put("", "image", "png", "image/png", []byte("654321"), "")
	kept, _ := s.Put("", "image", "png", "image/png", make([]byte, 100), user)
	if _, ok := s.Get("", first.ID); ok {
		t.Error("the oldest was not dropped to make room")
	}
	if _, err := os.Stat(first.path); !os.IsNotExist(err) {
		t.Errorf("the store's file of a dropped item stays: %v", err)
	}
	if _, ok := s.Get("", second.ID); !ok {
		t.Error("the newest was dropped")
	}
	if _, ok := s.Get("", kept.ID); !ok || kept.Name != "mine.png" {
		t.Error("the user's file is not indexed")
	}
	time.Sleep(60 * time.Millisecond)
	if _, ok := s.Get("", second.ID); ok {
		t.Error("an expired file is still readable")
	}
	s.List("")
	if _, err := os.Stat(user); err != nil {
		t.Errorf("the user's file was deleted: %v", err)
	}
}

// A link works without any credential until it expires; a changed
// signature, id, name or type, and an expired link, get 403.
func TestSignedLinks(t *testing.T) {
	s := New(Options{TTL: time.Hour})
	it, _ := s.Put("alice", "video", "mp4", "video/mp4", []byte("moving pictures"), "")
	link := s.Link("https://mcp.example.com/", it)
	if !strings.HasPrefix(link, "https://mcp.example.com/media/"+it.ID+"/video-") {
		t.Fatalf("link %s", link)
	}
	resp, body := get(t, s, link)
	if resp.StatusCode != 200 || string(body) != "moving pictures" || resp.Header.Get("Content-Type") != "video/mp4" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), it.Name) || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	u, _ := url.Parse(link)
	tamper := func(f func(q url.Values, u *url.URL)) string {
		v := *u
		q := v.Query()
		f(q, &v)
		v.RawQuery = q.Encode()
		return v.String()
	}
	other, _ := s.Put("bob", "image", "png", "image/png", []byte("bob's"), "")
	for name, bad := range map[string]string{
		"signature": tamper(func(q url.Values, _ *url.URL) { q.Set("s", strings.Repeat("A", 43)) }),
		"later":     tamper(func(q url.Values, _ *url.URL) { q.Set("e", "99999999999") }),
		"type":      tamper(func(q url.Values, _ *url.URL) { q.Set("t", "text/html") }),
		"id":        tamper(func(_ url.Values, v *url.URL) { v.Path = "/media/" + other.ID + "/" + it.Name }),
		"name":      tamper(func(_ url.Values, v *url.URL) { v.Path = "/media/" + it.ID + "/other.mp4" }),
	} {
		if resp, _ := get(t, s, bad); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s changed: %d", name, resp.StatusCode)
		}
	}
	expired := New(Options{TTL: time.Millisecond})
	old, _ := expired.Put("", "image", "png", "image/png", []byte("x"), "")
	l := expired.Link("http://h", old)
	time.Sleep(1100 * time.Millisecond) // links expire by the second
	if resp, body := get(t, expired, l); resp.StatusCode != http.StatusForbidden || !bytes.Contains(body, []byte("expired")) {
		t.Errorf("expired link: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, New(Options{}), link); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another key accepted the link: %d", resp.StatusCode)
	}
}

// Replicas that share the key and the folder serve each other's links.
func TestReplicasShareLinks(t *testing.T) {
	dir, key := t.TempDir(), []byte(strings.Repeat("k", 32))
	a, b := New(Options{Dir: dir, Key: key}), New(Options{Dir: dir, Key: key})
	it, _ := a.Put("alice", "image", "png", "image/png", []byte("from a"), "")
	if resp, body := get(t, b, a.Link("http://h", it)); resp.StatusCode != 200 || string(body) != "from a" {
		t.Errorf("replica b: %d %q", resp.StatusCode, body)
	}
	c := New(Options{Key: key}) // no shared folder
	if resp, _ := get(t, c, a.Link("http://h", it)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a replica without the folder: %d", resp.StatusCode)
	}
}

// Anyone with a link may download it many times at once: each download
// streams the file, rather than reading it whole into memory (20 downloads
// of an 8 MiB file allocated 160 MiB when they did).
func TestDownloadsStream(t *testing.T) {
	s := New(Options{Dir: t.TempDir()})
	data := bytes.Repeat([]byte("v"), 8<<20)
	it, err := s.Put("", "video", "mp4", "video/mp4", data, "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.Link("http://h", it))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 20 {
		rec := &countingWriter{header: http.Header{}}
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u.RequestURI(), nil))
		if rec.n != len(data) {
			t.Fatalf("downloaded %d bytes, want %d", rec.n, len(data))
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("20 downloads of an 8 MiB file allocated %d MiB", got>>20)
	}
	// A range, as a video player asks.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, u.RequestURI(), nil)
	req.Header.Set("Range", "bytes=0-9")
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusPartialContent || rec.Body.Len() != 10 {
		t.Errorf("range: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// countingWriter is a ResponseWriter that keeps nothing of the body.
type countingWriter struct {
	header http.Header
	n      int
}

func (c *countingWriter) Header() http.Header         { return c.header }
func (c *countingWriter) WriteHeader(int)             {}
func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
