// Package loopback tells whether a host names this machine only: the
// loopback addresses (127.0.0.0/8, ::1) and the name localhost (RFC 6761:
// "localhost" and its subdomains never leave the machine). The
// configuration uses it to keep dev mode off the network, and the HTTP
// guards to refuse a Host header that a DNS-rebinding page would send.
//
// Nothing here resolves a name: a name other than localhost is not
// loopback, whatever it resolves to now, since that may change.
package loopback

import (
	"net"
	"net/netip"
	"strings"
)

// Host reports whether host, a host name or IP address without a port
// (IPv6 with or without brackets), names this machine only. An empty host
// (every interface, as in ":8080") is not loopback.
func Host(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// HostPort reports whether addr, host:port or a bare host, names this
// machine only (see Host).
func HostPort(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr // no port
	}
	return Host(host)
}
