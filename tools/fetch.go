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

	"github.com/nanogpt-mcp/nanogpt-mcp/capped"
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

// checkAddr refuses addresses inside the server's own network. An IPv6
// address that embeds an IPv4 one (NAT64, 6to4, Teredo, IPv4-compatible) is
// judged by the IPv4 address it reaches.
func checkAddr(a netip.Addr) error {
	a = a.Unmap()
	rule := addrRule(a)
	if v4, how, ok := embeddedIPv4(a); ok && rule == "" {
		if r := addrRule(v4); r != "" {
			rule = fmt.Sprintf("%s (it embeds %s, %s)", r, v4, how)
		}
	}
	if rule == "" {
		return nil
	}
	return &blockedError{rule: fmt.Sprintf("%s is a %s address, which this server does not fetch (the operator can allow it with --allow-private-urls)", a, rule)}
}

// addrRule names the rule that refuses a, or "".
func addrRule(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified() || a.Is4() && a.As4()[0] == 0: // 0.0.0.0/8: "this network"
		return "unspecified"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsMulticast() || a.IsInterfaceLocalMulticast():
		return "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	case netip.MustParsePrefix("240.0.0.0/4").Contains(a):
		return "reserved"
	case netip.MustParsePrefix("100.64.0.0/10").Contains(a):
		return "shared (carrier-grade NAT)"
	}
	return ""
}

// embeddedIPv4 returns the IPv4 address an IPv6 address reaches through a
// translation or tunnel prefix.
func embeddedIPv4(a netip.Addr) (netip.Addr, string, bool) {
	if !a.Is6() {
		return netip.Addr{}, "", false
	}
	b := a.As16()
	v4 := func(p []byte) netip.Addr { return netip.AddrFrom4([4]byte{p[0], p[1], p[2], p[3]}) }
	switch {
	case netip.MustParsePrefix("64:ff9b::/96").Contains(a), netip.MustParsePrefix("64:ff9b:1::/48").Contains(a):
		return v4(b[12:]), "by NAT64", true
	case netip.MustParsePrefix("2002::/16").Contains(a):
		return v4(b[2:6]), "by 6to4", true
	case netip.MustParsePrefix("2001::/32").Contains(a): // Teredo: the client's address, inverted
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), "by Teredo", true
	case netip.MustParsePrefix("::/96").Contains(a): // IPv4-compatible (deprecated)
		return v4(b[12:]), "as an IPv4-compatible address", true
	}
	return netip.Addr{}, "", false
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
	data, err := capped.Read(resp.Body, resp.ContentLength, max)
	if errors.Is(err, capped.ErrTooLarge) {
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
