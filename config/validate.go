package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/loopback"
)

// FieldError is one invalid option, reported by Validate. Key is the
// option's file key ("listen", "sim.qr_validity"); the message also names
// its environment variable and flag, so the operator finds it wherever it
// was set.
type FieldError struct {
	Key     string
	Problem string
}

func (e *FieldError) Error() string {
	if f, ok := fieldByKey(e.Key); ok {
		return fmt.Sprintf("%s: %s (env %s, flag --%s)", e.Key, e.Problem, f.Env, f.Flag)
	}
	return e.Key + ": " + e.Problem
}

// Validate reports every problem of o at once, as *FieldError values joined
// with errors.Join; nil when o is usable. It does no I/O: whether the data
// directory is writable or a key exists is found out when etaxd opens them.
func (o Options) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	atLeast := func(key string, v, min int) {
		if v < min {
			bad(key, "must be at least %d, got %d", min, v)
		}
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be a duration greater than 0, got %s", d)
		}
	}

	if strings.TrimSpace(o.DataDir) == "" {
		bad("data_dir", "must not be empty")
	}
	if err := checkListen(o.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if o.KeyFile != "" && strings.TrimSpace(o.KeyFile) != o.KeyFile {
		bad("key_file", "must not start or end with spaces")
	}
	if !envName(o.KeysEnv) {
		bad("keys_env", "must be an environment variable name (letters, digits, _), got %q", o.KeysEnv)
	}
	switch strings.ToLower(o.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "must be debug, info, warn or error, got %q", o.LogLevel)
	}
	switch strings.ToLower(o.LogFormat) {
	case "text", "json":
	default:
		bad("log_format", "must be text or json, got %q", o.LogFormat)
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(o.ServiceName)); n == 0 || n > 32 {
		bad("service_name", "must be 1 to 32 characters, got %q", o.ServiceName)
	}
	if o.NodeName != "" && !nodeName(o.NodeName) {
		bad("node_name", "must be at most 64 printable characters without spaces, got %q", o.NodeName)
	}
	if o.PublicURL != "" {
		if err := checkURL(o.PublicURL, false, "http", "https"); err != nil {
			bad("public_url", "%v", err)
		} else if u, _ := url.Parse(o.PublicURL); strings.Trim(u.Path, "/") != "" {
			// The H5 pages redirect to /h5/... and scope their cookies to
			// /h5, the OAuth2 callback is /h5/wx/oauth: etaxd serves from
			// the root of its host, so a prefix would break them.
			bad("public_url", "must not carry a path, got %q: etaxd serves from the root of its host (give it a host or port of its own behind the proxy)", u.Path)
		}
	}
	if o.OperatorToken != "" && !token(o.OperatorToken) {
		// The value is a secret: the problem never quotes it.
		bad("operator_token", "must be %d to %d printable ASCII characters without spaces", minTokenLen, maxTokenLen)
	}

	atLeast("lock.max_wrong_password", o.Lock.MaxWrongPassword, 1)
	atLeast("lock.max_wrong_code", o.Lock.MaxWrongCode, 1)
	atLeast("lock.max_code_timeouts", o.Lock.MaxCodeTimeouts, 1)
	atLeast("sms.per_phone_per_day", o.SMS.PerPhonePerDay, 1)
	if o.SMS.PerAccountInterval < 0 {
		bad("sms.per_account_interval", "must not be negative, got %s", o.SMS.PerAccountInterval)
	}
	positive("code_ttl", o.CodeTTL)
	if o.PromptReminder < 0 {
		bad("prompt_reminder", "must be 0 (never) or positive, got %s", o.PromptReminder)
	}
	positive("idle_timeout", o.IdleTimeout)
	positive("gateway_timeout", o.GatewayTimeout)
	if g := o.PasswordGuard; g.MaxWrong < 1 || g.MaxWrong >= domain.BureauPasswordLimit {
		bad("pwguard.max_wrong", "must be from 1 to %d, below the tax bureau's lock at %d wrong passwords, got %d",
			domain.BureauPasswordLimit-1, domain.BureauPasswordLimit, g.MaxWrong)
	}
	if o.PasswordGuard.Window < 24*time.Hour {
		bad("pwguard.window", "must be at least 24h (the tax bureau counts wrong passwords per day), got %s", o.PasswordGuard.Window)
	}
	atLeast("pwguard.per_openid", o.PasswordPerOpenID, 1)
	atLeast("activation.per_address", o.Activation.PerAddress, 1)
	atLeast("activation.total", o.Activation.Total, 1)

	for _, u := range o.NATS.URLs {
		if err := checkURL(u, true, "nats", "tls", "ws", "wss"); err != nil {
			bad("nats.urls", "%v", err)
		}
	}
	if o.NATS.Token != "" && o.NATS.Listen == "" && o.NATS.Embedded() {
		bad("nats.token", "is for the embedded server's listener (nats.listen) or for external servers (nats.urls), but both are empty")
	}
	validateExternalNATS(o, bad)
	if o.NATS.Listen != "" {
		if !o.NATS.Embedded() {
			bad("nats.listen", "is for the embedded server only, but nats.urls names external servers")
		} else if err := checkListen(o.NATS.Listen); err != nil {
			bad("nats.listen", "%v", err)
		} else if !token(o.NATS.Token) {
			bad("nats.token", "is required with nats.listen (16–512 printable characters): the port would otherwise take anyone")
		}
	}
	switch {
	case o.NATS.Replicas < 1 || o.NATS.Replicas > 5:
		bad("nats.replicas", "must be from 1 to 5, got %d", o.NATS.Replicas)
	case o.NATS.Replicas > 1 && o.NATS.Embedded() && !o.Cluster.Enabled():
		bad("nats.replicas", "must be 1 with the embedded server (a single node), got %d; set cluster.peers or nats.urls for a cluster", o.NATS.Replicas)
	}
	validateCluster(o, bad)
	if !o.TaxBureau.InProcess() {
		if err := checkURL(o.TaxBureau.URL, false, "http", "https"); err != nil {
			bad("taxbureau.url", "%v", err)
		}
	}
	if o.WeChat.Enabled() {
		if err := o.WeChatConfig().Validate(); err != nil {
			for _, e := range unjoin(err) {
				bad(wechatKey(e.Error()), "%v", e)
			}
		}
	} else if o.WeChat.AppSecret != "" || o.WeChat.Token != "" || o.WeChat.EncodingAESKey != "" || o.WeChat.TemplateID != "" {
		bad("wechat.app_id", "is required when any other wechat.* option is set")
	}
	if o.TaxBureau.Token != "" {
		switch {
		case o.TaxBureau.InProcess():
			bad("taxbureau.token", "is set but taxbureau.url is empty: the in-process simulator takes no token")
		case !token(o.TaxBureau.Token):
			bad("taxbureau.token", "must be %d to %d printable ASCII characters without spaces", minTokenLen, maxTokenLen)
		}
	}

	positive("sim.session_length", o.Sim.SessionLength)
	positive("sim.qr_validity", o.Sim.QRValidity)
	if o.Sim.CertValidity < 0 {
		bad("sim.cert_validity", "must not be negative (0 means every invoice needs a fresh certification), got %s", o.Sim.CertValidity)
	}
	seen := map[string]bool{}
	for _, r := range o.Sim.NoSMSRegions {
		if _, known := domain.RegionByCode(r); !known {
			bad("sim.no_sms_regions", "%q is not one of the 36 region codes (\"44\", \"4403\", ...)", r)
		} else if seen[r] {
			bad("sim.no_sms_regions", "%q is listed twice", r)
		}
		seen[r] = true
	}
	return errors.Join(errs...)
}

// ValidateServe reports what keeps serve from starting on o beyond
// Validate, as *FieldError values joined; nil when it may start. Other
// commands (keys rotate) skip it: they serve nothing.
//
//   - Dev mode serves a sign-in as any openid, every user's prompts and the
//     simulator's SMS codes to whoever reaches it, so listen and
//     nats.listen must be loopback addresses (127.0.0.0/8, ::1, localhost).
//   - Production needs a tax bureau named: a gateway URL, or SimURL for the
//     in-process simulator on purpose. An empty taxbureau.url would have
//     ERPs get fake sessions without anyone noticing.
func (o Options) ValidateServe() error {
	var errs []error
	if o.Dev {
		for _, l := range []struct{ key, addr string }{{"listen", o.Listen}, {"nats.listen", o.NATS.Listen}} {
			if l.addr == "" || loopback.HostPort(l.addr) {
				continue
			}
			errs = append(errs, &FieldError{Key: l.key, Problem: fmt.Sprintf("is %q, but dev mode listens on loopback addresses only "+
				"(127.0.0.1, ::1, localhost): it lets anyone sign in as any WeChat user, read every user's prompts and the simulator's SMS codes; "+
				"to serve the network run production instead: --dev=false with a master key and a tax-bureau gateway (docs/SECURITY.md)", l.addr)})
		}
	}
	if !o.Dev && o.TaxBureau.URL == "" {
		errs = append(errs, &FieldError{Key: "taxbureau.url", Problem: "is required outside dev mode: set the tax-bureau gateway's URL " +
			"(docs/GATEWAY.md), or " + SimURL + " to run the built-in simulator on purpose (ERPs then get fake sessions: for trials only); " +
			"or run with --dev on this machine"})
	}
	return errors.Join(errs...)
}

// checkListen accepts host:port with a numeric port in 0–65535; an empty
// host means every interface.
func checkListen(addr string) error {
	if addr == "" {
		return errors.New("must be host:port, got an empty string")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be a number from 0 to 65535, got %q", port)
	}
	return nil
}

// checkURL accepts an absolute URL with one of schemes and a host, without
// a query or fragment (a path is fine: a reverse proxy's prefix), and
// without user info unless allowUser. A URL with user info is never quoted
// in the problem: it may hold a password.
func checkURL(s string, allowUser bool, schemes ...string) error {
	shown := fmt.Sprintf("%q", s)
	if strings.Contains(s, "@") {
		shown = "a URL with user info"
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("must be an absolute URL such as %s://host:port, got %s", schemes[0], shown)
	}
	if !slices.Contains(schemes, strings.ToLower(u.Scheme)) {
		return fmt.Errorf("scheme must be %s, got %s", strings.Join(schemes, " or "), shown)
	}
	if u.User != nil && !allowUser {
		return errors.New("must not carry user info")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return fmt.Errorf("must not carry a query or a fragment, got %s", shown)
	}
	return nil
}

// Bearer tokens: long enough not to be guessed, short enough for a header.
const (
	minTokenLen = 16
	maxTokenLen = 512
)

// token reports whether s can be a bearer token: printable ASCII without
// spaces, of a sensible length.
func token(s string) bool {
	if len(s) < minTokenLen || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func envName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func nodeName(s string) bool {
	if utf8.RuneCountInString(s) > 64 {
		return false
	}
	for _, c := range s {
		if unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}

// Problems lists the problems inside an error returned by Load or Validate,
// one per element, in the order found. An error that joins nothing is one
// problem; nil is none.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []error{err}
}

// unjoin lists the errors inside a joined error, or err itself.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// wechatKey names the option a wechat.Config problem is about.
func wechatKey(msg string) string {
	m := strings.ToLower(msg)
	for _, k := range []struct{ word, key string }{
		{"secret", "wechat.app_secret"}, {"aes", "wechat.encoding_aes_key"}, {"template", "wechat.template_id"},
		{"token", "wechat.token"}, {"public", "public_url"}, {"service", "service_name"},
	} {
		if strings.Contains(m, k.word) {
			return k.key
		}
	}
	return "wechat.app_id"
}

// validateCluster checks the cluster options: in cluster mode an address of
// its own, well-formed peers, and with the embedded NATS enough nodes for
// the replicas; with external NATS (nats.urls) no separate actor address.
func validateCluster(o Options, bad func(key, format string, args ...any)) {
	c := o.Cluster
	if !c.Enabled() {
		if c.Listen != "" {
			bad("cluster.listen", "is for cluster mode, but cluster.peers is empty")
		}
		if c.ActorListen != "" {
			bad("cluster.actor_listen", "is for cluster mode, but cluster.peers is empty")
		}
		return
	}
	if o.TaxBureau.InProcess() {
		bad("taxbureau.url", "must name a gateway in cluster mode (e.g. one etax-sim for all nodes): an in-process simulator would be another bureau on every node")
	}
	if err := checkListen(c.Listen); err != nil {
		bad("cluster.listen", "is required in cluster mode: %v", err)
	} else if _, port, _ := net.SplitHostPort(c.Listen); port == "0" {
		bad("cluster.listen", "needs a fixed port (the other nodes' cluster.peers name it), got %q", c.Listen)
	}
	seen := map[string]bool{}
	for _, p := range c.Peers {
		if err := checkListen(p); err != nil {
			bad("cluster.peers", "%v", err)
			continue
		}
		if seen[p] {
			bad("cluster.peers", "names %s twice", p)
		}
		seen[p] = true
	}
	nodes := len(seen)
	if !seen[c.Listen] {
		nodes++
	}
	if !o.NATS.Embedded() {
		// The external NATS cluster holds the replicas, not the etaxd
		// nodes: their number is not bound by nats.replicas, and the actor
		// remote listens on cluster.listen itself.
		if c.ActorListen != "" && c.ActorListen != c.Listen {
			bad("cluster.actor_listen", "must be empty with nats.urls: the actor remote then listens on cluster.listen (%s), the address cluster.peers names", c.Listen)
		}
		return
	}
	if r := o.StreamReplicas(); nodes < r {
		bad("cluster.peers", "names %d node(s) with this one; %d replicas need at least %d nodes", nodes, r, r)
	}
	if c.ActorListen != "" {
		if err := checkListen(c.ActorListen); err != nil {
			bad("cluster.actor_listen", "%v", err)
		}
	}
}
