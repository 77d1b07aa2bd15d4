package events

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// webhookResolveTimeout bounds the lookup of a webhook's host at
// registration.
const webhookResolveTimeout = 5 * time.Second

// forbiddenReason is the delivery state's last_error for an attempt refused
// at dial: it names the rule, not the address the host resolved to.
const forbiddenReason = "refused: the URL's host is or resolves to a loopback, private, link-local or otherwise non-public address; such addresses are not allowed on this node"

// Resolver looks up the addresses of a host; *net.Resolver is one. Network
// is "ip", "ip4" or "ip6".
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// LookupNetIP calls f.
func (f ResolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}

// nonPublicPrefixes are the ranges a webhook may not reach unless private
// networks are allowed, besides what netip's predicates catch (loopback,
// private, link-local, multicast, unspecified).
var nonPublicPrefixes = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a 'this network' address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible or unspecified IPv6 address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard-only IPv6 address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local IPv6 address"},
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// nonPublic returns why a webhook may not be delivered to a, or "" when a
// is a public unicast address. IPv4 embedded in IPv6 (mapped, NAT64, 6to4)
// is judged as the IPv4 address it reaches.
func nonPublic(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return "not an address"
	case a.IsUnspecified():
		return "an unspecified address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsPrivate():
		return "a private address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	for _, p := range nonPublicPrefixes {
		if p.prefix.Contains(a) {
			return p.why
		}
	}
	b := a.As16()
	switch {
	case a.Is6() && nat64Prefix.Contains(a):
		return embedded(netip.AddrFrom4([4]byte(b[12:16])), "NAT64")
	case a.Is6() && sixToFour.Contains(a):
		return embedded(netip.AddrFrom4([4]byte(b[2:6])), "6to4")
	}
	return ""
}

// embedded judges the IPv4 address inside an IPv6 one of the given form.
func embedded(v4 netip.Addr, form string) string {
	if why := nonPublic(v4); why != "" {
		return form + " form of " + why
	}
	return ""
}

// checkWebhookHost refuses a host that does not resolve, a numeric host
// that is not a plain IPv4 address, and, unless private networks are
// allowed, a host that is or resolves to any non-public address. The
// errors wrap ErrInvalidWebhook or ErrWebhookURLForbidden; they never
// say what a name resolved to (that would map the node's network for the
// tenant). The delivery checks the dialled address again (dialControl):
// this check is the early answer, that one the guarantee.
func (w *Webhooks) checkWebhookHost(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: URL: %v", ErrInvalidWebhook, err)
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if a, err := netip.ParseAddr(host); err == nil {
		if why := nonPublic(a); why != "" && !w.opts.AllowPrivate {
			return fmt.Errorf("%w: %s is %s", ErrWebhookURLForbidden, host, why)
		}
		return nil
	}
	if numericHost(host) {
		// 2130706433, 0177.0.0.1, 127.1: getaddrinfo reads them as IPv4,
		// no DNS name looks like that.
		return fmt.Errorf("%w: host %q is neither a dotted IPv4 address nor a name", ErrInvalidWebhook, host)
	}
	lower := strings.ToLower(host)
	if !w.opts.AllowPrivate && (lower == "localhost" || strings.HasSuffix(lower, ".localhost")) {
		return fmt.Errorf("%w: %s is a loopback name", ErrWebhookURLForbidden, host)
	}
	ctx, cancel := context.WithTimeout(ctx, webhookResolveTimeout)
	defer cancel()
	addrs, err := w.opts.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		w.log.Info("webhook host does not resolve", "host", host, "err", err)
		return fmt.Errorf("%w: host %q does not resolve", ErrInvalidWebhook, host)
	}
	if w.opts.AllowPrivate {
		return nil
	}
	for _, a := range addrs {
		if why := nonPublic(a); why != "" {
			w.log.Info("webhook host resolves to a non-public address", "host", host, "addr", a, "why", why)
			return fmt.Errorf("%w: host %q resolves to a non-public address", ErrWebhookURLForbidden, host)
		}
	}
	return nil
}

// numericHost reports whether host's last label is a number (decimal, or
// hex with 0x): such a host is an IP address in some form, never a name.
func numericHost(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if l := strings.ToLower(last); strings.HasPrefix(l, "0x") {
		last = l[2:]
		return last == "" || strings.Trim(last, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// dialControl refuses a connection to a non-public address: it runs on
// the address actually dialled, after any name resolution, so a name that
// resolves differently at delivery than at registration (DNS rebinding)
// gains nothing.
func dialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check the address %q", ErrWebhookURLForbidden, address)
	}
	if why := nonPublic(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrWebhookURLForbidden, ap.Addr(), why)
	}
	return nil
}

// dialContext dials address (host:port) for the delivery client: it
// resolves the host with the configured Resolver and dials its addresses
// one after the other through a dialer that refuses non-public ones
// (unless private networks are allowed). It returns the first success or
// the first error.
func (w *Webhooks) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: w.opts.Timeout, KeepAlive: 30 * time.Second}
	if !w.opts.AllowPrivate {
		d.Control = dialControl
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ipnet := "ip"
		switch network {
		case "tcp4":
			ipnet = "ip4"
		case "tcp6":
			ipnet = "ip6"
		}
		if addrs, err = w.opts.Resolver.LookupNetIP(ctx, ipnet, host); err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	var first error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// isForbidden reports whether a delivery failed because its address is not
// allowed: retrying cannot help until the URL or the node's setting changes.
func isForbidden(err error) bool { return errors.Is(err, ErrWebhookURLForbidden) }
