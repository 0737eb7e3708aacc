// Package media keeps the files the tools generate (images, audio, video) so
// that they can be read again: as MCP resources, and, when hosted, through
// expiring signed download links that a person can open in a browser. The
// store is bounded by bytes and by age, and each file belongs to the caller
// who made it.
package media

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Store.
type Options struct {
	// MaxBytes bounds the bytes the store holds of its own: in memory, and
	// in the files it writes. Files the tools saved for the user (file
	// output) are indexed, not counted, and never deleted. 0: 256 MiB.
	MaxBytes int64
	// TTL is how long a file stays readable (and its links valid). 0: 1 h.
	TTL time.Duration
	// Dir, when set, is where the store writes the files it keeps, instead
	// of memory; replicas that share it (and Key) serve each other's links.
	Dir string
	// Key signs download links; replicas that share it accept each other's
	// links. Empty: a random key (links die with the process).
	Key []byte
}

// Item is one stored file.
type Item struct {
	ID      string
	Owner   string // who made it ("" over stdio)
	Name    string // its file name, e.g. image-3f2a….png
	MIME    string
	Size    int64
	Created time.Time

	path  string // on disk: a file of the user's (not owned) or of the store's
	owned bool   // the store wrote it and deletes it when it expires
	data  []byte // in memory
}

// Store is the set of stored files.
type Store struct {
	opts Options

	mu    sync.Mutex
	items map[string]*Item
	held  int64 // bytes of owned items
}

// New returns a store.
func New(o Options) *Store {
	o.MaxBytes = cmp.Or(o.MaxBytes, 256<<20)
	o.TTL = cmp.Or(o.TTL, time.Hour)
	if len(o.Key) == 0 {
		o.Key = make([]byte, 32)
		_, _ = rand.Read(o.Key)
	}
	return &Store{opts: o, items: map[string]*Item{}}
}

// TTL is how long an item stays readable.
func (s *Store) TTL() time.Duration { return s.opts.TTL }

// ErrTooLarge is a file larger than the whole store.
var ErrTooLarge = errors.New("media: the file is larger than the store")

// Put keeps a file for owner, named kind-<id>.ext. path is where the tools
// saved it for the user, or "" for bytes that are nowhere else (they go to
// Dir, or memory). The oldest of the store's own files make room for it.
func (s *Store) Put(owner, kind, ext, mimeType string, data []byte, path string) (*Item, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	it := &Item{ID: id, Owner: owner, MIME: mimeType, Size: int64(len(data)), Created: time.Now()}
	switch {
	case path != "":
		it.path, it.Name = path, filepath.Base(path)
	default:
		if it.Size > s.opts.MaxBytes {
			return nil, ErrTooLarge
		}
		it.Name = kind + "-" + id + "." + cmp.Or(ext, "bin")
		it.owned = true
		if s.opts.Dir != "" {
			if err := os.MkdirAll(s.opts.Dir, 0o700); err != nil {
				return nil, fmt.Errorf("media: %w", err)
			}
			it.path = filepath.Join(s.opts.Dir, it.Name)
			if err := os.WriteFile(it.path, data, 0o600); err != nil {
				return nil, fmt.Errorf("media: %w", err)
			}
		} else {
			it.data = data
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	if it.owned {
		s.makeRoom(it.Size)
		s.held += it.Size
	}
	s.items[id] = it
	return it, nil
}

// expire drops the items older than the TTL (s.mu held).
func (s *Store) expire() {
	for _, it := range s.items {
		if time.Since(it.Created) > s.opts.TTL {
			s.drop(it)
		}
	}
}

// makeRoom drops the oldest owned items until size more bytes fit (s.mu held).
func (s *Store) makeRoom(size int64) {
	if s.held+size <= s.opts.MaxBytes {
		return
	}
	owned := make([]*Item, 0, len(s.items))
	for _, it := range s.items {
		if it.owned {
			owned = append(owned, it)
		}
	}
	slices.SortFunc(owned, func(a, b *Item) int { return a.Created.Compare(b.Created) })
	for _, it := range owned {
		if s.held+size <= s.opts.MaxBytes {
			return
		}
		s.drop(it)
	}
}

func (s *Store) drop(it *Item) {
	delete(s.items, it.ID)
	if it.owned {
		s.held -= it.Size
		if it.path != "" {
			_ = os.Remove(it.path)
		}
	}
}

// Get returns owner's item id; another owner's is as missing as an unknown one.
func (s *Store) Get(owner, id string) (*Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[id]
	if !ok || it.Owner != owner || time.Since(it.Created) > s.opts.TTL {
		return nil, false
	}
	return it, true
}

// List returns owner's items, newest first.
func (s *Store) List(owner string) []*Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	var out []*Item
	for _, it := range s.items {
		if it.Owner == owner {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b *Item) int { return b.Created.Compare(a.Created) })
	return out
}

// Read returns an item's bytes.
func (s *Store) Read(it *Item) ([]byte, error) {
	if it.data != nil {
		return it.data, nil
	}
	b, err := os.ReadFile(it.path)
	if err != nil {
		return nil, fmt.Errorf("media: %s is gone: %w", it.Name, errors.Unwrap(err))
	}
	return b, nil
}

// URI is the item's MCP resource URI.
func URI(id string) string { return "nanogpt://media/" + id }

// IDOf is the item id of a resource URI ("" when it is not one of ours).
func IDOf(uri string) string {
	id, ok := strings.CutPrefix(uri, "nanogpt://media/")
	if !ok || !idRE.MatchString(id) {
		return ""
	}
	return id
}

var (
	idRE   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$`)
)

// Link is a signed download URL for the item under base (the server's
// public address), valid until the item expires.
func (s *Store) Link(base string, it *Item) string {
	exp := it.Created.Add(s.opts.TTL).Unix()
	q := url.Values{"e": {strconv.FormatInt(exp, 10)}, "t": {it.MIME}, "s": {s.sign(it.ID, it.Name, it.MIME, exp)}}
	return strings.TrimRight(base, "/") + "/media/" + it.ID + "/" + url.PathEscape(it.Name) + "?" + q.Encode()
}

func (s *Store) sign(id, name, mimeType string, exp int64) string {
	m := hmac.New(sha256.New, s.opts.Key)
	fmt.Fprintf(m, "nanogpt-mcp media\x00%s\x00%s\x00%s\x00%d", id, name, mimeType, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ServeHTTP serves GET /media/<id>/<name>?e=…&t=…&s=…: a signed link,
// without any other credential. A link whose signature does not match, or
// that has expired, gets 403; a file no longer kept, 404.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, "/media/")
	id, name, _ := strings.Cut(rest, "/")
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("e"), 10, 64)
	mimeType := q.Get("t")
	if err != nil || !idRE.MatchString(id) || !nameRE.MatchString(name) || strings.Contains(name, "..") ||
		!hmac.Equal([]byte(q.Get("s")), []byte(s.sign(id, name, mimeType, exp))) {
		http.Error(w, "forbidden: this link is not valid", http.StatusForbidden)
		return
	}
	if time.Now().Unix() > exp {
		http.Error(w, "forbidden: this link has expired", http.StatusForbidden)
		return
	}
	// The file is streamed, never read whole: a link needs no token, so
	// many downloads at once must not each hold a copy in memory.
	s.mu.Lock()
	it, ok := s.items[id]
	s.mu.Unlock()
	var (
		content io.ReadSeeker
		modTime time.Time
		path    string
	)
	switch {
	case ok && it.data != nil:
		content, modTime = bytes.NewReader(it.data), it.Created
	case ok:
		path = it.path
	case s.opts.Dir != "": // another replica's file, in the shared folder
		path = filepath.Join(s.opts.Dir, name)
	}
	if path != "" {
		if f, err := os.Open(path); err == nil {
			defer f.Close()
			if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
				content, modTime = f, st.ModTime()
			}
		}
	}
	if content == nil {
		http.Error(w, "not found: the file is no longer kept", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", cmp.Or(mimeType, "application/octet-stream"))
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": name}))
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; media-src 'self'; sandbox")
	http.ServeContent(w, r, name, modTime, content) // HEAD and ranges too
}
