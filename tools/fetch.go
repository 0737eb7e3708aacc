package tools

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
)

// Fetcher downloads https URLs on the server's own behalf, refusing addresses
// inside the server's network (loopback, private, link-local, multicast,
// unspecified, shared) after DNS resolution and on every redirect, and capping
// size and time.
type Fetcher struct {
	client  *http.Client
	allow   func(netip.AddrPort) error
	timeout time.Duration
}

// FetchError says which rule refused a download.
type FetchError struct {
	URL    string
	Reason string
}

func (e *FetchError) Error() string { return "refused to download " + e.URL + ": " + e.Reason }

// NewFetcher builds a Fetcher. allowPrivate lifts the address rule (for
// operators whose files live on an internal host). The transport's TLS and
// dialling are otherwise Go's defaults; proxies are not used, since a proxy
// would hide the address being reached.
func NewFetcher(allowPrivate bool, timeout time.Duration) *Fetcher {
	return newFetcher(func(ap netip.AddrPort) error {
		if allowPrivate {
			return nil
		}
		return checkAddr(ap.Addr())
	}, timeout, nil)
}

func newFetcher(allow func(netip.AddrPort) error, timeout time.Duration, base *http.Transport) *Fetcher {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr := base.Clone()
	tr.Proxy = nil
	// Every connection must go through the checked dialer below.
	tr.Dial, tr.DialTLS, tr.DialTLSContext = nil, nil, nil // the deprecated two are still honoured
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("unexpected address %q", address)
		}
		return allow(ap)
	}}
	tr.DialContext = dialer.DialContext
	client := &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > 5 { // via holds the requests made so far: the 6th redirect is refused
			return &blockedError{rule: "more than 5 redirects"}
		}
		if req.URL.Scheme != "https" {
			return &blockedError{rule: fmt.Sprintf("it redirects to a %s: URL (only https is fetched)", req.URL.Scheme)}
		}
		return nil
	}}
	return &Fetcher{client: client, allow: allow, timeout: timeout}
}

// blockedError is returned by the dialer's check and the redirect check.
type blockedError struct{ rule string }

func (e *blockedError) Error() string { return e.rule }

// checkAddr refuses addresses inside the server's own network.
func checkAddr(a netip.Addr) error {
	a = a.Unmap()
	rule := ""
	switch {
	case a.IsLoopback():
		rule = "loopback"
	case a.IsUnspecified():
		rule = "unspecified"
	case a.IsPrivate():
		rule = "private"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		rule = "link-local"
	case a.IsMulticast() || a.IsInterfaceLocalMulticast():
		rule = "multicast"
	case netip.MustParsePrefix("100.64.0.0/10").Contains(a):
		rule = "shared (carrier-grade NAT)"
	}
	if rule == "" {
		return nil
	}
	return &blockedError{rule: fmt.Sprintf("%s is a %s address, which this server does not fetch (the operator can allow it with --allow-private-urls)", a, rule)}
}

// Get downloads rawURL, up to max bytes, within the fetcher's timeout. It returns
// the body and its Content-Type.
func (f *Fetcher) Get(ctx context.Context, rawURL string, max int64) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", &FetchError{URL: rawURL, Reason: "not a valid URL"}
	}
	if u.Scheme != "https" { // before the host check, so file:///x names the scheme rule
		return nil, "", &FetchError{URL: rawURL, Reason: fmt.Sprintf("the %q scheme is not fetched (only https)", u.Scheme)}
	}
	if u.Host == "" {
		return nil, "", &FetchError{URL: rawURL, Reason: "not a valid URL"}
	}
	if err := f.checkLiteral(u); err != nil {
		return nil, "", &FetchError{URL: rawURL, Reason: err.Error()}
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", &FetchError{URL: rawURL, Reason: err.Error()}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var be *blockedError
		switch {
		case errors.As(err, &be):
			return nil, "", &FetchError{URL: rawURL, Reason: be.rule}
		case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
			return nil, "", &FetchError{URL: rawURL, Reason: fmt.Sprintf("no answer within %s", f.timeout)}
		case ctx.Err() != nil:
			return nil, "", ctx.Err()
		}
		return nil, "", &FetchError{URL: rawURL, Reason: err.Error()}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", &FetchError{URL: rawURL, Reason: "the server answered " + resp.Status}
	}
	if resp.ContentLength > max {
		return nil, "", &FetchError{URL: rawURL, Reason: fmt.Sprintf("it is %s; at most %s allowed here", humanBytes(resp.ContentLength), humanBytes(max))}
	}
	data, err := nanogpt.ReadAtMost(resp.Body, resp.ContentLength, max)
	if errors.Is(err, nanogpt.ErrTooLarge) {
		return nil, "", &FetchError{URL: rawURL, Reason: fmt.Sprintf("it is larger than %s, the most allowed here", humanBytes(max))}
	}
	if err != nil || ctx.Err() != nil { // a read cut short by the deadline can end like a clean EOF
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, "", &FetchError{URL: rawURL, Reason: fmt.Sprintf("the download did not finish within %s", f.timeout)}
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", &FetchError{URL: rawURL, Reason: "reading failed: " + err.Error()}
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// checkLiteral applies the dial rule to a literal IP before any connection, so
// the refusal names the rule even when nothing listens there.
func (f *Fetcher) checkLiteral(u *url.URL) error {
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return nil // a name: checked when dialled, after resolution
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		port = 443
	}
	return f.allow(netip.AddrPortFrom(a, uint16(port)))
}
