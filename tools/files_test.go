package tools

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// pngHeader is enough of a PNG for http.DetectContentType.
var pngHeader = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00")

// filesFixture lays out:
//
//	base/secret.txt          outside the root
//	base/root/a.txt          inside
//	base/root/sub/b.md       inside
//	base/root/img            a PNG without an extension
//
// and returns base and root.
func filesFixture(t *testing.T) (base, root string) {
	t.Helper()
	base = t.TempDir()
	root = filepath.Join(base, "root")
	filesWrite(t, filepath.Join(base, "secret.txt"), "top secret")
	filesWrite(t, filepath.Join(root, "a.txt"), "hello from a")
	filesWrite(t, filepath.Join(root, "sub", "b.md"), "# b")
	filesWrite(t, filepath.Join(root, "img"), string(pngHeader))
	return base, root
}

func filesWrite(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// filesSymlink makes a symlink or skips the test where that is not allowed.
func filesSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
}

// fileURL turns an absolute path into a file:// URL.
func fileURL(p string) string {
	p = filepath.ToSlash(p)
	if !strings.HasPrefix(p, "/") { // C:/x on Windows
		p = "/" + p
	}
	return "file://" + p
}

// openErr opens e and wants an invalid_argument failure whose message holds
// every one of want (case-insensitive) and none of notWant.
func openErr(t *testing.T, f *Files, e FileEntry, max int64, want []string, notWant ...string) string {
	t.Helper()
	in, err := f.open(context.Background(), e, "att", max)
	if err == nil {
		t.Fatalf("open(%q) = %+v, want an error", e.URL, in)
	}
	var fl *Failure
	if !errors.As(err, &fl) || fl.Code != CodeInvalidArgument {
		t.Fatalf("open(%q) error %T %v, want an invalid_argument *Failure", e.URL, err, err)
	}
	msg := fl.Message
	if !strings.HasPrefix(msg, "att.url: ") {
		t.Errorf("message %q does not name the parameter", msg)
	}
	lower := strings.ToLower(msg)
	for _, w := range want {
		if !strings.Contains(lower, strings.ToLower(w)) {
			t.Errorf("open(%q) message %q lacks %q", e.URL, msg, w)
		}
	}
	for _, w := range notWant {
		if strings.Contains(lower, strings.ToLower(w)) {
			t.Errorf("open(%q) message %q should not contain %q", e.URL, msg, w)
		}
	}
	return msg
}

func openOK(t *testing.T, f *Files, e FileEntry, max int64) *input {
	t.Helper()
	in, err := f.open(context.Background(), e, "att", max)
	if err != nil {
		t.Fatalf("open(%q): %v", e.URL, err)
	}
	if in.remote() {
		t.Fatalf("open(%q) left the file remote", e.URL)
	}
	return in
}

func TestLocalFileInsideRoot(t *testing.T) {
	_, root := filesFixture(t)
	f := &Files{Roots: []string{root}}
	abs := filepath.Join(root, "a.txt")
	for _, tc := range []struct{ name, url string }{
		{"relative", "a.txt"},
		{"relative with ./", "./a.txt"},
		{"relative with inner ..", "sub/../a.txt"},
		{"absolute", abs},
		{"file URL", fileURL(abs)},
		{"file URL on localhost", strings.Replace(fileURL(abs), "file://", "file://localhost", 1)},
		{"surrounding spaces", "  a.txt \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := openOK(t, f, FileEntry{URL: tc.url}, 1<<20)
			if string(in.data) != "hello from a" {
				t.Errorf("data = %q", in.data)
			}
			if in.mime != "text/plain" {
				t.Errorf("mime = %q, want text/plain", in.mime)
			}
			if in.name != "a.txt" {
				t.Errorf("name = %q, want a.txt", in.name)
			}
		})
	}
	t.Run("nested", func(t *testing.T) {
		in := openOK(t, f, FileEntry{URL: filepath.Join("sub", "b.md")}, 1<<20)
		if string(in.data) != "# b" || in.mime != "text/markdown" || in.name != "b.md" {
			t.Errorf("got %q %q %q", in.data, in.mime, in.name)
		}
	})
	t.Run("entry name and type win", func(t *testing.T) {
		in := openOK(t, f, FileEntry{URL: "a.txt", Name: "notes.csv", MimeType: "text/x-custom"}, 1<<20)
		if in.name != "notes.csv" || in.mime != "text/x-custom" {
			t.Errorf("got name %q mime %q", in.name, in.mime)
		}
	})
	t.Run("type sniffed without extension", func(t *testing.T) {
		in := openOK(t, f, FileEntry{URL: "img"}, 1<<20)
		if in.mime != "image/png" {
			t.Errorf("mime = %q, want image/png", in.mime)
		}
		if !strings.HasPrefix(in.dataURL(), "data:image/png;base64,") {
			t.Errorf("dataURL = %.40q", in.dataURL())
		}
	})
}

func TestLocalFileMIMENormalised(t *testing.T) {
	// Sniffing says "text/plain; charset=utf-8"; the parameter must not leak
	// into in.mime, where it would break data: URLs and type comparisons.
	_, root := filesFixture(t)
	filesWrite(t, filepath.Join(root, "notes.unknownext"), "plain words")
	f := &Files{Roots: []string{root}}
	in := openOK(t, f, FileEntry{URL: "notes.unknownext"}, 1<<20)
	if in.mime != "text/plain" {
		t.Errorf("mime = %q, want text/plain", in.mime)
	}
	if got := in.dataURL(); got != "data:text/plain;base64,"+base64.StdEncoding.EncodeToString([]byte("plain words")) {
		t.Errorf("dataURL = %q", got)
	}
}

func TestLocalFileSeveralRoots(t *testing.T) {
	_, root := filesFixture(t)
	other := t.TempDir()
	filesWrite(t, filepath.Join(other, "c.json"), `{"c":1}`)
	f := &Files{Roots: []string{root, other}}
	in := openOK(t, f, FileEntry{URL: filepath.Join(other, "c.json")}, 1<<20)
	if string(in.data) != `{"c":1}` || in.mime != "application/json" {
		t.Errorf("got %q %q", in.data, in.mime)
	}
	// A relative path is taken from the first root only.
	openErr(t, f, FileEntry{URL: "c.json"}, 1<<20, []string{"does not exist", filepath.Join(root, "c.json")})
}

func TestLocalTraversalRefused(t *testing.T) {
	_, root := filesFixture(t)
	f := &Files{Roots: []string{root}}
	for _, tc := range []struct{ name, url string }{
		{"dotdot", filepath.Join("..", "secret.txt")},
		{"deeper dotdot", filepath.Join("sub", "..", "..", "secret.txt")},
		{"absolute with dotdot", filepath.Join(root, "..", "secret.txt")},
		{"file URL with dotdot", fileURL(root) + "/../secret.txt"},
		{"the parent itself", ".."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			openErr(t, f, FileEntry{URL: tc.url}, 1<<20,
				[]string{"outside the allowed folders", root}, "top secret")
		})
	}
}

func TestLocalAbsoluteOutsideRefused(t *testing.T) {
	base, root := filesFixture(t)
	other := t.TempDir()
	f := &Files{Roots: []string{root, other}}
	msg := openErr(t, f, FileEntry{URL: filepath.Join(base, "secret.txt")}, 1<<20,
		[]string{"outside the allowed folders", root, other})
	if !strings.Contains(msg, filepath.Join(base, "secret.txt")) {
		t.Errorf("message %q does not name the path", msg)
	}
	openErr(t, f, FileEntry{URL: fileURL(filepath.Join(base, "secret.txt"))}, 1<<20, []string{"outside the allowed folders"})
	// A sibling whose name merely starts with the root's is still outside.
	filesWrite(t, root+"-evil"+string(filepath.Separator)+"x.txt", "x")
	openErr(t, f, FileEntry{URL: filepath.Join(root+"-evil", "x.txt")}, 1<<20, []string{"outside the allowed folders"})
}

func TestLocalSymlinkOutsideRefused(t *testing.T) {
	base, root := filesFixture(t)
	secret := filepath.Join(base, "secret.txt")
	filesSymlink(t, secret, filepath.Join(root, "abs-out"))
	filesSymlink(t, filepath.Join("..", "secret.txt"), filepath.Join(root, "rel-out"))
	filesSymlink(t, base, filepath.Join(root, "dir-out"))
	f := &Files{Roots: []string{root}}
	for _, name := range []string{"abs-out", "rel-out", filepath.Join("dir-out", "secret.txt")} {
		t.Run(name, func(t *testing.T) {
			openErr(t, f, FileEntry{URL: name}, 1<<20, []string{"leads outside", root}, "top secret")
			openErr(t, f, FileEntry{URL: filepath.Join(root, name)}, 1<<20, []string{"leads outside"})
		})
	}
}

func TestLocalSymlinkInsideAllowed(t *testing.T) {
	_, root := filesFixture(t)
	filesSymlink(t, "a.txt", filepath.Join(root, "rel-in"))
	filesSymlink(t, filepath.Join("..", "a.txt"), filepath.Join(root, "sub", "up-in"))
	filesSymlink(t, "sub", filepath.Join(root, "subdir-link"))
	// os.Root refuses every absolute symlink; one that points inside the root
	// is resolved and read through the root anyway.
	filesSymlink(t, filepath.Join(root, "a.txt"), filepath.Join(root, "abs-in"))
	f := &Files{Roots: []string{root}}
	for _, tc := range []struct{ url, want string }{
		{"rel-in", "hello from a"},
		{filepath.Join("sub", "up-in"), "hello from a"},
		{filepath.Join("subdir-link", "b.md"), "# b"},
		{"abs-in", "hello from a"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			in := openOK(t, f, FileEntry{URL: tc.url}, 1<<20)
			if string(in.data) != tc.want {
				t.Errorf("data = %q, want %q", in.data, tc.want)
			}
		})
	}
	t.Run("symlink to a directory", func(t *testing.T) {
		openErr(t, f, FileEntry{URL: "subdir-link"}, 1<<20, []string{"not a regular file"})
	})
	t.Run("dangling", func(t *testing.T) {
		filesSymlink(t, "nothing-here", filepath.Join(root, "dangling"))
		openErr(t, f, FileEntry{URL: "dangling"}, 1<<20, []string{"does not exist"})
	})
}

func TestLocalSymlinkedRoot(t *testing.T) {
	// The allowed folder itself may be a symlink (as /tmp is on macOS).
	_, root := filesFixture(t)
	link := filepath.Join(t.TempDir(), "root-link")
	filesSymlink(t, root, link)
	f := &Files{Roots: []string{link}}
	in := openOK(t, f, FileEntry{URL: "a.txt"}, 1<<20)
	if string(in.data) != "hello from a" {
		t.Errorf("data = %q", in.data)
	}
	filesSymlink(t, filepath.Join(root, "a.txt"), filepath.Join(root, "abs-in"))
	if in := openOK(t, f, FileEntry{URL: "abs-in"}, 1<<20); string(in.data) != "hello from a" {
		t.Errorf("data = %q", in.data)
	}
}

func TestLocalDirectoryRefused(t *testing.T) {
	_, root := filesFixture(t)
	f := &Files{Roots: []string{root}}
	openErr(t, f, FileEntry{URL: "sub"}, 1<<20, []string{"not a regular file", filepath.Join(root, "sub")})
	openErr(t, f, FileEntry{URL: "."}, 1<<20, []string{"not a regular file"})
	openErr(t, f, FileEntry{URL: root}, 1<<20, []string{"not a regular file"})
}

func TestLocalMissingFile(t *testing.T) {
	_, root := filesFixture(t)
	f := &Files{Roots: []string{root}}
	openErr(t, f, FileEntry{URL: "nope.png"}, 1<<20, []string{filepath.Join(root, "nope.png") + " does not exist"})
	openErr(t, f, FileEntry{URL: filepath.Join("nodir", "x.txt")}, 1<<20, []string{"does not exist"})
	// A root that has gone away is reported as such.
	gone := filepath.Join(t.TempDir(), "gone")
	f = &Files{Roots: []string{gone}}
	openErr(t, f, FileEntry{URL: "a.txt"}, 1<<20, []string{"allowed folder " + gone + " cannot be opened"})
}

func TestLocalFileSizeCap(t *testing.T) {
	_, root := filesFixture(t)
	filesWrite(t, filepath.Join(root, "big.txt"), strings.Repeat("x", 2048))
	f := &Files{Roots: []string{root}}
	openErr(t, f, FileEntry{URL: "big.txt"}, 1024, []string{"big.txt is 2 KB", "at most 1 KB"})
	openErr(t, f, FileEntry{URL: "big.txt"}, 100, []string{"2 KB", "at most 100 bytes"})
	if in := openOK(t, f, FileEntry{URL: "big.txt"}, 2048); len(in.data) != 2048 {
		t.Errorf("read %d bytes at exactly the cap", len(in.data))
	}
	filesWrite(t, filepath.Join(root, "big.bin"), strings.Repeat("y", 3<<20))
	openErr(t, f, FileEntry{URL: "big.bin"}, 1<<20, []string{"is 3 MB", "at most 1 MB"})
}

func TestLocalFilesNoRoots(t *testing.T) {
	dir := t.TempDir()
	filesWrite(t, filepath.Join(dir, "a.txt"), "a")
	for _, f := range []*Files{{}, {Roots: []string{}}} {
		for _, u := range []string{"a.txt", filepath.Join(dir, "a.txt"), fileURL(filepath.Join(dir, "a.txt")), `C:\Users\x\a.png`} {
			openErr(t, f, FileEntry{URL: u}, 1<<20,
				[]string{"local files cannot be read", "https://", "data:"}, "scheme is not supported")
		}
	}
}

func TestLocalEmptyURL(t *testing.T) {
	f := &Files{Roots: []string{t.TempDir()}}
	openErr(t, f, FileEntry{URL: "  "}, 1<<20, []string{"required", "https://", "data:"})
}

func TestDataURL(t *testing.T) {
	png := base64.StdEncoding.EncodeToString(pngHeader)
	hello := base64.StdEncoding.EncodeToString([]byte("hello, world?>"))
	f := &Files{} // data: URLs need no root
	for _, tc := range []struct {
		name     string
		entry    FileEntry
		data     string
		mime     string
		fileName string
	}{
		{"base64 with type", FileEntry{URL: "data:image/png;base64," + png}, string(pngHeader), "image/png", "attachment"},
		{"upper-case prefix", FileEntry{URL: "DATA:image/png;BASE64," + png}, string(pngHeader), "image/png", "attachment"},
		{"base64 with parameters", FileEntry{URL: "data:text/plain;charset=utf-8;base64," + hello}, "hello, world?>", "text/plain", "attachment"},
		{"base64 with line breaks", FileEntry{URL: "data:text/plain;base64," + hello[:8] + "\r\n" + hello[8:12] + " \t" + hello[12:]}, "hello, world?>", "text/plain", "attachment"},
		{"base64 unpadded", FileEntry{URL: "data:text/plain;base64," + strings.TrimRight(hello, "=")}, "hello, world?>", "text/plain", "attachment"},
		{"base64 URL-safe", FileEntry{URL: "data:text/plain;base64," + base64.URLEncoding.EncodeToString([]byte("hello, world?>"))}, "hello, world?>", "text/plain", "attachment"},
		{"base64 percent-encoded", FileEntry{URL: "data:text/plain;base64," + strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(hello)}, "hello, world?>", "text/plain", "attachment"},
		{"base64 without type is sniffed", FileEntry{URL: "data:;base64," + png}, string(pngHeader), "image/png", "attachment"},
		{"base64 without type, typed by name", FileEntry{URL: "data:;base64," + hello, Name: "h.md"}, "hello, world?>", "text/markdown", "h.md"},
		{"percent-encoded text", FileEntry{URL: "data:text/plain,hello%20world%21%0A"}, "hello world!\n", "text/plain", "attachment"},
		{"plain text keeps plus signs", FileEntry{URL: "data:,1+1=2"}, "1+1=2", "text/plain", "attachment"},
		{"text with charset", FileEntry{URL: "data:text/csv;charset=utf-8,a%2Cb"}, "a,b", "text/csv", "attachment"},
		{"empty payload", FileEntry{URL: "data:text/plain,"}, "", "text/plain", "attachment"},
		{"entry mimeType wins", FileEntry{URL: "data:text/plain;base64," + hello, MimeType: "Text/Markdown; charset=utf-8"}, "hello, world?>", "text/markdown", "attachment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := f.open(context.Background(), tc.entry, "att", 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if in.remote() {
				t.Fatal("data: URL left remote")
			}
			if string(in.data) != tc.data {
				t.Errorf("data = %q, want %q", in.data, tc.data)
			}
			if in.mime != tc.mime {
				t.Errorf("mime = %q, want %q", in.mime, tc.mime)
			}
			if in.name != tc.fileName {
				t.Errorf("name = %q, want %q", in.name, tc.fileName)
			}
		})
	}
}

func TestDataURLRoundTrip(t *testing.T) {
	in := &input{data: pngHeader, mime: "image/png"}
	out, err := (&Files{}).open(context.Background(), FileEntry{URL: in.dataURL()}, "att", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.data, pngHeader) || out.mime != "image/png" {
		t.Errorf("round trip gave %q %q", out.data, out.mime)
	}
}

func TestDataURLMalformed(t *testing.T) {
	f := &Files{}
	for _, tc := range []struct{ url, want string }{
		{"data:image/png;base64,@@@not*base64@@@", "base64 data in the data: URL is malformed"},
		{"data:image/png;base64,QUJD%ZZ", "malformed"},
		{"data:image/png;base64;QUJD", "no comma"},
		{"data:", "no comma"},
		{"data:text/plain,100%", "not properly percent-encoded"},
		{"data:text/plain,%G1", "not properly percent-encoded"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			openErr(t, f, FileEntry{URL: tc.url}, 1<<20, []string{tc.want})
		})
	}
}

func TestDataURLSizeCap(t *testing.T) {
	f := &Files{}
	const max = 1024
	exact := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, max))
	if in := openOK(t, f, FileEntry{URL: "data:application/octet-stream;base64," + exact}, max); len(in.data) != max {
		t.Errorf("decoded %d bytes at exactly the cap", len(in.data))
	}
	// Line breaks do not count towards the size.
	wrapped := wrapLines(exact, 76)
	if in := openOK(t, f, FileEntry{URL: "data:application/octet-stream;base64," + wrapped}, max); len(in.data) != max {
		t.Errorf("decoded %d bytes of wrapped base64 at exactly the cap", len(in.data))
	}
	for _, n := range []int{max + 1, max + 2, max + 3, 2 * max} {
		over := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n))
		openErr(t, f, FileEntry{URL: "data:application/octet-stream;base64," + over}, max, []string{"larger than 1 KB"})
		openErr(t, f, FileEntry{URL: "data:application/octet-stream;base64," + strings.TrimRight(over, "=")}, max, []string{"larger than 1 KB"})
	}
	openOK(t, f, FileEntry{URL: "data:text/plain," + strings.Repeat("%41", max)}, max)
	openErr(t, f, FileEntry{URL: "data:text/plain," + strings.Repeat("a", max+1)}, max, []string{"larger than 1 KB"})
	openErr(t, f, FileEntry{URL: "data:text/plain," + strings.Repeat("%41", max+1)}, max, []string{"larger than 1 KB"})
}

func wrapLines(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n])
		b.WriteString("\r\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

// TestDataURLHugePayloadNotDecoded checks that a 50 MB payload is refused
// against a 1 MB cap before it is copied or decoded.
func TestDataURLHugePayloadNotDecoded(t *testing.T) {
	const max = 1 << 20
	huge := strings.Repeat("QUJD", 50<<20/4) // 50 MB of valid base64
	for _, tc := range []struct{ name, url string }{
		{"base64", "data:application/octet-stream;base64," + huge},
		{"percent-encoded", "data:text/plain," + huge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &Files{}
			start := time.Now()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := f.open(context.Background(), FileEntry{URL: tc.url}, "att", max)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "larger than 1 MB") {
				t.Fatalf("err = %v, want the 1 MB cap", err)
			}
			// Decoding would allocate ~37 MB, copying 50 MB; allow some noise.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
				t.Errorf("refusing allocated %d bytes; the payload was decoded or copied", grew)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("refusing took %v", d)
			}
			allocs := testing.AllocsPerRun(3, func() { _, _ = f.open(context.Background(), FileEntry{URL: tc.url}, "att", max) })
			if allocs > 20 {
				t.Errorf("%v allocations to refuse", allocs)
			}
		})
	}
}

func TestSchemesRefused(t *testing.T) {
	f := &Files{Roots: []string{t.TempDir()}}
	for _, tc := range []struct{ url, scheme string }{
		{"gopher://example.com/1", "gopher"},
		{"ftp://example.com/a.png", "ftp"},
		{"javascript:alert(1)", "javascript"},
		{"http://example.com/a.png", "http"},
		{"HTTP://example.com/a.png", "http"},
		{"ssh://host/etc/passwd", "ssh"},
		{"mailto:a@example.com", "mailto"},
		{"blob:https://example.com/uuid", "blob"},
		{"s3://bucket/key.png", "s3"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			openErr(t, f, FileEntry{URL: tc.url}, 1<<20,
				[]string{`the "` + tc.scheme + `" scheme is not supported`, "https://", "data:", "local path", "file://"})
		})
	}
}

func TestWindowsPathIsNotAScheme(t *testing.T) {
	_, root := filesFixture(t)
	f := &Files{Roots: []string{root}}
	for _, u := range []string{`C:\Users\x\a.png`, `c:\a.png`, `C:/Users/x/a.png`, `D:a.png`} {
		t.Run(u, func(t *testing.T) {
			msg := openErr(t, f, FileEntry{URL: u}, 1<<20, nil, "scheme is not supported")
			// On Windows it is an absolute path outside the root; elsewhere a
			// relative name that does not exist inside it.
			if !strings.Contains(msg, "outside the allowed folders") && !strings.Contains(msg, "does not exist") {
				t.Errorf("message %q is neither outside-roots nor does-not-exist", msg)
			}
		})
	}
}

func TestFileURLPath(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"file:///tmp/a.png", "/tmp/a.png"},
		{"file://localhost/tmp/a.png", "/tmp/a.png"},
		{"file://LOCALHOST/tmp/a.png", "/tmp/a.png"},
		{"file:///tmp/a%20b.png", "/tmp/a b.png"},
		{"file:/tmp/a.png", "/tmp/a.png"},
		{"file:///C:/dir/a.png", "C:/dir/a.png"},
		{"file:///c:/dir/a.png", "c:/dir/a.png"},
		{"file://C:/dir/a.png", "C:/dir/a.png"},
		{"file://localhost/C:/dir/a.png", "C:/dir/a.png"},
		{"file:///1:/dir", "/1:/dir"},
		{"file:///ab:/dir", "/ab:/dir"},
	} {
		got, err := fileURLPath(tc.url)
		if err != nil {
			t.Errorf("fileURLPath(%q): %v", tc.url, err)
			continue
		}
		if want := filepath.FromSlash(tc.want); got != want {
			t.Errorf("fileURLPath(%q) = %q, want %q", tc.url, got, want)
		}
	}
	for _, tc := range []struct{ url, want string }{
		{"file://server/share/a.png", "other hosts (server)"},
		{"file://example.com/etc/passwd", "other hosts"},
		{"file:relative/a.png", "not a valid file URL"},
		{"file://", "names no file"},
		{"file:///tmp/%zz", "not a valid file URL"},
	} {
		if got, err := fileURLPath(tc.url); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("fileURLPath(%q) = %q, %v; want an error with %q", tc.url, got, err, tc.want)
		}
	}
}

func TestFileURLOpen(t *testing.T) {
	_, root := filesFixture(t)
	f := &Files{Roots: []string{root}}
	openErr(t, f, FileEntry{URL: "file://evil.example/etc/passwd"}, 1<<20, []string{"other hosts"})
	openErr(t, f, FileEntry{URL: "file:a.txt"}, 1<<20, []string{"file:///absolute/path"}, "scheme is not supported")
	if in := openOK(t, f, FileEntry{URL: "FILE:" + strings.TrimPrefix(fileURL(filepath.Join(root, "a.txt")), "file://")}, 1<<20); string(in.data) != "hello from a" {
		t.Errorf("data = %q", in.data)
	}
}

func TestFilesOpenHTTPSStaysRemote(t *testing.T) {
	f := &Files{} // no roots, no fetcher: https needs neither
	for _, tc := range []struct {
		entry      FileEntry
		mime, name string
	}{
		{FileEntry{URL: "https://example.com/pics/cat.PNG?x=1"}, "image/png", "cat.PNG"},
		{FileEntry{URL: "https://example.com/doc"}, "", "doc"},
		{FileEntry{URL: "https://example.com/doc", MimeType: "text/csv"}, "text/csv", "doc"},
		{FileEntry{URL: "https://example.com/", Name: "x.md"}, "text/markdown", "x.md"},
		{FileEntry{URL: "https://example.com/"}, "", "attachment"},
		{FileEntry{URL: "https://example.com"}, "", "attachment"},
	} {
		in, err := f.open(context.Background(), tc.entry, "att", 1<<20)
		if err != nil {
			t.Errorf("open(%q): %v", tc.entry.URL, err)
			continue
		}
		if !in.remote() || in.url != tc.entry.URL {
			t.Errorf("open(%q) = %+v, want it remote and unchanged", tc.entry.URL, in)
		}
		if in.mime != tc.mime || in.name != tc.name {
			t.Errorf("open(%q): mime %q name %q, want %q %q", tc.entry.URL, in.mime, in.name, tc.mime, tc.name)
		}
	}
	openErr(t, f, FileEntry{URL: "https://"}, 1<<20, []string{"not a valid URL"})
	openErr(t, f, FileEntry{URL: "https:///path"}, 1<<20, []string{"not a valid URL"})
}

func TestGuessMIME(t *testing.T) {
	for _, tc := range []struct {
		name  string
		entry FileEntry
		ext   string
		want  string
	}{
		{"mimeType wins", FileEntry{MimeType: "image/webp", Extension: "png", Name: "a.jpg"}, ".gif", "image/webp"},
		{"mimeType normalised", FileEntry{MimeType: " Text/Plain; charset=utf-8 "}, ".png", "text/plain"},
		{"malformed mimeType ignored", FileEntry{MimeType: "not a type", Extension: "png"}, "", "image/png"},
		{"extension next", FileEntry{Extension: "png", Name: "a.jpg"}, ".gif", "image/png"},
		{"extension with dot and case", FileEntry{Extension: ".JPG"}, "", "image/jpeg"},
		{"name next", FileEntry{Name: "notes.md"}, ".gif", "text/markdown"},
		{"name upper case", FileEntry{Name: "A.MP3"}, "", "audio/mpeg"},
		{"URL ext last", FileEntry{}, ".wav", "audio/wav"},
		{"URL ext without dot", FileEntry{}, "pdf", "application/pdf"},
		{"unknown extension falls through", FileEntry{Extension: "zzzz", Name: "a.qqqq"}, ".csv", "text/csv"},
		{"name without extension falls through", FileEntry{Name: "README"}, ".json", "application/json"},
		{"nothing known", FileEntry{Name: "README"}, "", ""},
		{"empty", FileEntry{}, "", ""},
		{"source code", FileEntry{Name: "main.go"}, "", "text/plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := guessMIME(tc.entry, tc.ext); got != tc.want {
				t.Errorf("guessMIME(%+v, %q) = %q, want %q", tc.entry, tc.ext, got, tc.want)
			}
		})
	}
}

func TestNormMIME(t *testing.T) {
	for in, want := range map[string]string{
		"text/plain; charset=utf-8":  "text/plain",
		"TEXT/HTML;charset=UTF-8":    "text/html",
		"  image/png  ":              "image/png",
		"application/json":           "application/json",
		"audio/L16; rate=16000":      "audio/l16",
		"":                           "",
		"not a type":                 "",
		"text/plain; charset=\"utf8": "text/plain",
	} {
		if got := normMIME(in); got != want {
			t.Errorf("normMIME(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsTextMIME(t *testing.T) {
	for mt, want := range map[string]bool{
		"text/plain": true, "text/markdown": true, "text/csv": true, "text/html": true,
		"application/json": true, "application/xml": true, "application/yaml": true, "application/x-yaml": true,
		"application/toml": true, "application/javascript": true, "application/x-sh": true, "application/sql": true,
		"application/x-ndjson": true, "application/ld+json": true, "image/svg+xml": true,
		"image/png": false, "application/pdf": false, "application/octet-stream": false, "audio/mpeg": false, "": false,
	} {
		if got := isTextMIME(mt); got != want {
			t.Errorf("isTextMIME(%q) = %v, want %v", mt, got, want)
		}
	}
}

func TestFilesHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 bytes", 100: "100 bytes", 1023: "1023 bytes", 1024: "1 KB", 1536: "2 KB",
		1 << 20: "1 MB", 3 << 20: "3 MB", 3<<20 + 1<<19: "3.5 MB",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFilesLoadLocalAndData(t *testing.T) {
	// load reads local files and data: URLs without a fetcher.
	_, root := filesFixture(t)
	f := &Files{Roots: []string{root}}
	in, err := f.load(context.Background(), FileEntry{URL: "a.txt"}, "att", 1<<20)
	if err != nil || string(in.data) != "hello from a" {
		t.Fatalf("load = %v, %v", in, err)
	}
	in, err = f.load(context.Background(), FileEntry{URL: "data:,x"}, "att", 1<<20)
	if err != nil || string(in.data) != "x" {
		t.Fatalf("load = %v, %v", in, err)
	}
	if _, err := f.load(context.Background(), FileEntry{URL: "../secret.txt"}, "att", 1<<20); err == nil {
		t.Fatal("load read outside the root")
	}
}
