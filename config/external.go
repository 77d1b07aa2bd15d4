package config

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// validateExternalNATS checks the credentials and TLS files of external
// NATS servers (nats.urls): they need nats.urls, at most one kind of
// credentials is set, a user goes with a password and a client certificate
// with its key. No problem quotes a secret.
func validateExternalNATS(o Options, bad func(key, format string, args ...any)) {
	n := o.NATS
	if n.Embedded() {
		for _, f := range []struct{ key, v string }{{"nats.user", n.User}, {"nats.password", n.Password},
			{"nats.creds_file", n.CredsFile}, {"nats.tls_ca_file", n.TLSCAFile}, {"nats.tls_cert_file", n.TLSCertFile},
			{"nats.tls_key_file", n.TLSKeyFile}} {
			if f.v != "" {
				bad(f.key, "is for external NATS servers, but nats.urls is empty (the embedded server needs no credentials)")
			}
		}
		return
	}
	var kinds []string
	if n.User != "" || n.Password != "" {
		kinds = append(kinds, "nats.user/nats.password")
		switch {
		case n.User == "":
			bad("nats.user", "is required with nats.password")
		case n.Password == "":
			bad("nats.password", "is required with nats.user")
		}
		if n.User != "" && !credential(n.User) {
			bad("nats.user", "must be 1 to %d printable characters without spaces, got %q", maxTokenLen, n.User)
		}
		if n.Password != "" && !password(n.Password) {
			bad("nats.password", "must be 1 to %d characters without control characters", maxTokenLen)
		}
	}
	if n.Token != "" {
		kinds = append(kinds, "nats.token")
		if !credential(n.Token) {
			bad("nats.token", "must be 1 to %d printable ASCII characters without spaces", maxTokenLen)
		}
	}
	if n.CredsFile != "" {
		kinds = append(kinds, "nats.creds_file")
	}
	for _, u := range n.URLs {
		if strings.Contains(u, "@") {
			kinds = append(kinds, "user info in nats.urls")
			break
		}
	}
	if len(kinds) > 1 {
		bad(credentialKey(n), "set one kind of NATS credentials, got %s", strings.Join(kinds, " and "))
	}
	if (n.TLSCertFile == "") != (n.TLSKeyFile == "") {
		if n.TLSCertFile == "" {
			bad("nats.tls_cert_file", "is required with nats.tls_key_file")
		} else {
			bad("nats.tls_key_file", "is required with nats.tls_cert_file")
		}
	}
	for _, f := range []struct{ key, v string }{{"nats.creds_file", n.CredsFile}, {"nats.tls_ca_file", n.TLSCAFile},
		{"nats.tls_cert_file", n.TLSCertFile}, {"nats.tls_key_file", n.TLSKeyFile}} {
		if f.v != "" && strings.TrimSpace(f.v) != f.v {
			bad(f.key, "must not start or end with spaces")
		}
	}
}

// credentialKey names the option a conflict of credentials is reported
// on: the first one set.
func credentialKey(n NATSOptions) string {
	switch {
	case n.User != "" || n.Password != "":
		return "nats.user"
	case n.Token != "":
		return "nats.token"
	}
	return "nats.creds_file"
}

// credential reports whether s can be a NATS user name or token: 1 to
// maxTokenLen printable ASCII characters without spaces.
func credential(s string) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// password reports whether s can be a NATS password: valid UTF-8 of 1 to
// maxTokenLen bytes without control characters.
func password(s string) bool {
	if s == "" || len(s) > maxTokenLen || !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, unicode.IsControl) < 0
}
