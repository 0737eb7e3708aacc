package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// All traffic in these tests stays on loopback: literal addresses are refused
// before any dial, the only name used is localhost, and the servers are
// httptest servers on 127.0.0.1.

// fetchServer starts a loopback TLS server, closed when the test ends.
func fetchServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// fetchTransport is a transport that trusts srv's test certificate (all
// httptest TLS servers share one).
func fetchTransport(srv *httptest.Server) *http.Transport {
	return srv.Client().Transport.(*http.Transport).Clone()
}

// testFetcher builds a fetcher over a transport trusting srv, and closes its
// idle connections when the test ends (before the servers close).
func testFetcher(t *testing.T, srv *httptest.Server, allow func(netip.AddrPort) error, timeout time.Duration) *Fetcher {
	t.Helper()
	f := newFetcher(allow, timeout, fetchTransport(srv))
	t.Cleanup(f.client.CloseIdleConnections)
	return f
}

func allowAll(netip.AddrPort) error { return nil }

func serverAddrPort(t *testing.T, srv *httptest.Server) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// fetchErr runs Get and wants a *FetchError holding every one of want.
func fetchErr(t *testing.T, f *Fetcher, rawURL string, max int64, want ...string) *FetchError {
	t.Helper()
	data, _, err := f.Get(context.Background(), rawURL, max)
	if err == nil {
		t.Fatalf("Get(%q) = %q, want an error", rawURL, data)
	}
	var fe *FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("Get(%q) error %T %v, want a *FetchError", rawURL, err, err)
	}
	if fe.URL != rawURL {
		t.Errorf("FetchError.URL = %q, want %q", fe.URL, rawURL)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Get(%q) error %q lacks %q", rawURL, err, w)
		}
	}
	return fe
}

func TestFetchRefusesHostileURLs(t *testing.T) {
	// The production fetcher, with the address rule on.
	f := NewFetcher(false, 2*time.Second)
	t.Cleanup(f.client.CloseIdleConnections)
	const lift = "--allow-private-urls"
	for _, tc := range []struct {
		url  string
		want []string
	}{
		{"https://127.0.0.1/x", []string{"127.0.0.1 is a loopback address", lift}},
		{"https://127.1.2.3:8443/x", []string{"loopback"}},
		{"https://localhost/x", []string{"loopback", lift}}, // refused at dial time, after resolution
		{"https://[::1]/x", []string{"::1 is a loopback address", lift}},
		{"https://169.254.169.254/latest/meta-data", []string{"169.254.169.254 is a link-local address"}},
		{"https://[fe80::1]/x", []string{"link-local"}},
		{"https://10.0.0.1/x", []string{"10.0.0.1 is a private address"}},
		{"https://172.16.5.4/x", []string{"private"}},
		{"https://192.168.1.1/x", []string{"private"}},
		{"https://[fd00::1]/x", []string{"private"}},
		{"https://0.0.0.0/x", []string{"0.0.0.0 is a unspecified address"}},
		{"https://[::]/x", []string{"unspecified"}},
		{"https://[::ffff:127.0.0.1]/x", []string{"127.0.0.1 is a loopback address"}},
		{"https://[::ffff:10.1.2.3]/x", []string{"private"}},
		{"https://100.64.0.1/x", []string{"100.64.0.1 is a shared (carrier-grade NAT) address"}},
		{"https://100.127.255.254/x", []string{"carrier-grade NAT"}},
		{"https://224.0.0.1/x", []string{"link-local"}}, // 224.0.0.0/24 is link-local multicast
		{"https://239.1.2.3/x", []string{"multicast"}},
		{"https://[ff05::1]/x", []string{"multicast"}},
		{"http://example.com", []string{`the "http" scheme is not fetched (only https)`}},
		{"HTTP://example.com/a.png", []string{`"http" scheme`}},
		{"file:///etc/passwd", []string{`the "file" scheme is not fetched`}},
		{"gopher://x", []string{`the "gopher" scheme is not fetched`}},
		{"ftp://x/y", []string{`"ftp" scheme`}},
		{"/etc/passwd", []string{`the "" scheme is not fetched`}},
		{"https://", []string{"not a valid URL"}},
		{"https://%zz/", []string{"not a valid URL"}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			start := time.Now()
			fetchErr(t, f, tc.url, 1<<20, tc.want...)
			if d := time.Since(start); d > time.Second {
				t.Errorf("refusing took %v; was something dialled?", d)
			}
		})
	}
}

func TestFetchAllowPrivateLiftsTheRule(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	// NewFetcher(true) does not trust the test certificate, so it fails in TLS,
	// past the address rule.
	f := NewFetcher(true, 2*time.Second)
	t.Cleanup(f.client.CloseIdleConnections)
	fe := fetchErr(t, f, srv.URL+"/x", 1<<20, "certificate")
	if strings.Contains(fe.Reason, "loopback") {
		t.Errorf("allowPrivate still applied the address rule: %v", fe)
	}
	// The address rule is the one that refuses it otherwise.
	f = NewFetcher(false, 2*time.Second)
	t.Cleanup(f.client.CloseIdleConnections)
	fetchErr(t, f, srv.URL+"/x", 1<<20, "loopback")
	fetchErr(t, f, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/x", 1<<20, "loopback")
}

func TestFetchCheckAddr(t *testing.T) {
	for addr, rule := range map[string]string{
		"127.0.0.1": "loopback", "127.255.255.254": "loopback", "::1": "loopback", "::ffff:127.0.0.1": "loopback",
		"0.0.0.0": "unspecified", "::": "unspecified",
		"10.0.0.1": "private", "172.31.255.255": "private", "192.168.0.1": "private", "fc00::1": "private",
		"169.254.169.254": "link-local", "fe80::1": "link-local", "224.0.0.251": "link-local", "ff02::fb": "link-local",
		"239.1.2.3": "multicast", "ff05::1": "multicast", "ff01::1": "multicast",
		"100.64.0.1": "carrier-grade NAT", "100.127.255.255": "carrier-grade NAT",
		// Issue 11, attack 9: IPv4 inside IPv6, and broadcast, by the embedded address's rule.
		"64:ff9b::7f00:1": "loopback (it embeds 127.0.0.1, by NAT64", "64:ff9b::a9fe:a9fe": "link-local (it embeds 169.254.169.254",
		"64:ff9b::a00:1": "private", "2002:7f00:1::": "loopback (it embeds 127.0.0.1, by 6to4", "2002:c0a8:101::1": "private",
		"::127.0.0.1": "loopback (it embeds 127.0.0.1, as an IPv4-compatible", "::10.1.2.3": "private",
		"2001:0:4136:e378:8000:63bf:80ff:fffe": "loopback (it embeds 127.0.0.1, by Teredo",
		"255.255.255.255":                      "broadcast", "240.0.0.1": "reserved", "0.1.2.3": "unspecified",
		// Public addresses pass (checked as values only; nothing is dialled).
		"8.8.8.8": "", "1.1.1.1": "", "100.63.255.255": "", "100.128.0.0": "", "172.32.0.1": "",
		"2606:4700:4700::1111": "", "::ffff:8.8.8.8": "", "64:ff9b::808:808": "", "2002:808:808::": "",
	} {
		err := checkAddr(netip.MustParseAddr(addr))
		switch {
		case rule == "" && err != nil:
			t.Errorf("checkAddr(%s) = %v, want nil", addr, err)
		case rule != "" && (err == nil || !strings.Contains(err.Error(), rule)):
			t.Errorf("checkAddr(%s) = %v, want the %s rule", addr, err, rule)
		}
	}
}

func TestFetchRedirectToLoopbackRefused(t *testing.T) {
	var targetHits atomic.Int32
	target := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
		fmt.Fprint(w, "internal secret")
	})
	redirector := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/secret", http.StatusFound)
	})
	only := serverAddrPort(t, redirector)
	allow := func(ap netip.AddrPort) error {
		if ap == only {
			return nil
		}
		return checkAddr(ap.Addr())
	}
	f := testFetcher(t, redirector, allow, 2*time.Second)
	host := serverAddrPort(t, target).Addr().String()
	fe := fetchErr(t, f, redirector.URL+"/go", 1<<20, host+" is a loopback address", "--allow-private-urls")
	if strings.Contains(fe.Error(), "internal secret") {
		t.Errorf("error leaks the target's body: %v", fe)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the target was reached %d times", n)
	}
	// The same through a name that resolves to loopback.
	_, port, _ := net.SplitHostPort(target.Listener.Addr().String())
	redirector.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://localhost:"+port+"/secret", http.StatusMovedPermanently)
	})
	fetchErr(t, f, redirector.URL+"/go", 1<<20, "loopback")
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the target was reached %d times", n)
	}
}

func TestFetchLoopbackAllowed(t *testing.T) {
	srv := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		fmt.Fprint(w, "# hello")
	})
	f := testFetcher(t, srv, allowAll, 2*time.Second)
	data, ctype, err := f.Get(context.Background(), srv.URL+"/doc.md", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "# hello" || ctype != "text/markdown; charset=utf-8" {
		t.Errorf("got %q, %q", data, ctype)
	}
}

func TestFetchIgnoresBaseDialers(t *testing.T) {
	// A base transport's own dialers must not bypass the checked dialer.
	srv := fetchServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	var custom atomic.Int32
	base := fetchTransport(srv)
	base.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		custom.Add(1)
		return nil, errors.New("custom TLS dialer used")
	}
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		custom.Add(1)
		return nil, errors.New("custom dialer used")
	}
	f := newFetcher(func(ap netip.AddrPort) error { return checkAddr(ap.Addr()) }, 2*time.Second, base)
	t.Cleanup(f.client.CloseIdleConnections)
	fetchErr(t, f, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/x", 1<<20, "loopback")
	if n := custom.Load(); n != 0 {
		t.Errorf("the base transport's dialers were used %d times", n)
	}
}

func TestFetchSizeCap(t *testing.T) {
	body := strings.Repeat("z", 4096)
	srv := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			fmt.Fprint(w, body)
		case "/chunked":
			fl := w.(http.Flusher)
			for i := 0; i < len(body); i += 512 {
				if _, err := fmt.Fprint(w, body[i:i+512]); err != nil {
					return
				}
				fl.Flush() // no Content-Length: the body is chunked
			}
		}
	})
	f := testFetcher(t, srv, allowAll, 2*time.Second)
	fe := fetchErr(t, f, srv.URL+"/length", 1024, "it is 4 KB; at most 1 KB allowed here")
	if strings.Contains(fe.Error(), "zzzz") {
		t.Errorf("error carries the body: %v", fe)
	}
	fetchErr(t, f, srv.URL+"/chunked", 1024, "larger than 1 KB")
	for _, p := range []string{"/length", "/chunked"} {
		data, _, err := f.Get(context.Background(), srv.URL+p, int64(len(body)))
		if err != nil || len(data) != len(body) {
			t.Errorf("Get(%s) at exactly the cap: %d bytes, %v", p, len(data), err)
		}
	}
}

func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "partial")
			w.(http.Flusher).Flush()
		}
		select { // longer than the fetcher's timeout, but let Close end it
		case <-r.Context().Done():
		case <-release:
		case <-time.After(5 * time.Second):
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	f := testFetcher(t, srv, allowAll, 150*time.Millisecond)
	for _, tc := range []struct{ path, want string }{
		{"/slow-headers", "within 150ms"}, // "no answer", or under load a cut-short read
		{"/slow-body", "did not finish within 150ms"},
	} {
		start := time.Now()
		fetchErr(t, f, srv.URL+tc.path, 1<<20, tc.want)
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("%s: gave up after %v", tc.path, d)
		}
	}
}

func TestFetchContextCancelled(t *testing.T) {
	srv := fetchServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	f := testFetcher(t, srv, allowAll, 2*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := f.Get(ctx, srv.URL+"/x", 1<<20)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestFetchStatus(t *testing.T) {
	srv := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	f := testFetcher(t, srv, allowAll, 2*time.Second)
	fetchErr(t, f, srv.URL+"/missing", 1<<20, "the server answered 404 Not Found")
	fetchErr(t, f, srv.URL+"/broken", 1<<20, "500 Internal Server Error")
	fetchErr(t, f, srv.URL+"/empty", 1<<20, "204 No Content")
}

func TestFetchRedirects(t *testing.T) {
	var srv *httptest.Server
	srv = fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/hop/"): // /hop/N redirects N more times
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
			if n == 0 {
				fmt.Fprint(w, "arrived")
				return
			}
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
		case r.URL.Path == "/to-http":
			http.Redirect(w, r, "http://"+srv.Listener.Addr().String()+"/plain", http.StatusFound)
		case r.URL.Path == "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}
	})
	f := testFetcher(t, srv, allowAll, 2*time.Second)
	for n := 0; n <= 5; n++ {
		data, _, err := f.Get(context.Background(), fmt.Sprintf("%s/hop/%d", srv.URL, n), 1<<20)
		if err != nil || string(data) != "arrived" {
			t.Errorf("%d redirects: %q, %v", n, data, err)
		}
	}
	fetchErr(t, f, srv.URL+"/hop/6", 1<<20, "more than 5 redirects")
	fetchErr(t, f, srv.URL+"/hop/50", 1<<20, "more than 5 redirects")
	fetchErr(t, f, srv.URL+"/to-http", 1<<20, "redirects to a http: URL (only https is fetched)")
	fetchErr(t, f, srv.URL+"/to-file", 1<<20, "redirects to a file: URL")
}

func TestFilesLoadFetches(t *testing.T) {
	srv := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/notes": // no extension: typed from Content-Type
			w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
			fmt.Fprint(w, "# notes")
		case "/untyped": // no extension, no Content-Type: sniffed
			w.Header()["Content-Type"] = nil
			fmt.Fprint(w, "just words")
		case "/data.csv":
			w.Header().Set("Content-Type", "application/octet-stream")
			fmt.Fprint(w, "a,b")
		case "/big":
			fmt.Fprint(w, strings.Repeat("b", 2048))
		}
	})
	files := &Files{Fetch: testFetcher(t, srv, allowAll, 2*time.Second)}
	for _, tc := range []struct {
		entry            FileEntry
		data, mime, name string
	}{
		{FileEntry{URL: srv.URL + "/notes"}, "# notes", "text/markdown", "notes"},
		{FileEntry{URL: srv.URL + "/untyped"}, "just words", "text/plain", "untyped"},
		{FileEntry{URL: srv.URL + "/data.csv"}, "a,b", "text/csv", "data.csv"}, // the URL's extension beats a generic Content-Type
		{FileEntry{URL: srv.URL + "/notes", MimeType: "text/x-rst", Name: "n.rst"}, "# notes", "text/x-rst", "n.rst"},
	} {
		in, err := files.load(context.Background(), tc.entry, "att", 1<<20)
		if err != nil {
			t.Errorf("load(%q): %v", tc.entry.URL, err)
			continue
		}
		if string(in.data) != tc.data || in.mime != tc.mime || in.name != tc.name {
			t.Errorf("load(%q) = %q %q %q, want %q %q %q", tc.entry.URL, in.data, in.mime, in.name, tc.data, tc.mime, tc.name)
		}
		if in.remote() {
			t.Errorf("load(%q) left the file remote", tc.entry.URL)
		}
	}
	// Download refusals become invalid_argument failures naming the parameter.
	_, err := files.load(context.Background(), FileEntry{URL: srv.URL + "/big"}, "att", 1024)
	var fl *Failure
	if !errors.As(err, &fl) || fl.Code != CodeInvalidArgument || !strings.HasPrefix(fl.Message, "att.url: refused to download") || !strings.Contains(fl.Message, "at most 1 KB") {
		t.Errorf("load of an oversized file: %v", err)
	}
}

func TestFilesLoadRefusals(t *testing.T) {
	guarded := &Files{Fetch: NewFetcher(false, 2*time.Second)}
	t.Cleanup(guarded.Fetch.client.CloseIdleConnections)
	for _, u := range []string{"https://127.0.0.1/a.txt", "https://localhost/a.txt", "https://169.254.169.254/latest/meta-data"} {
		_, err := guarded.load(context.Background(), FileEntry{URL: u}, "att", 1<<20)
		var fl *Failure
		if !errors.As(err, &fl) || fl.Code != CodeInvalidArgument || !strings.Contains(fl.Message, "att.url: refused to download") || !strings.Contains(fl.Message, "--allow-private-urls") {
			t.Errorf("load(%q) = %v, want an invalid_argument refusal", u, err)
		}
	}
	none := &Files{}
	_, err := none.load(context.Background(), FileEntry{URL: "https://example.com/a.txt"}, "att", 1<<20)
	if err == nil || !strings.Contains(err.Error(), "does not download URLs") {
		t.Errorf("load without a fetcher = %v", err)
	}
}
