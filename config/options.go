package config

import (
	"fmt"
	"github.com/etaxd/etaxd/wechat"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// Options are etaxd's settings. The zero value is not usable: start from
// Default (Load does) and check changes with Validate.
type Options struct {
	// ConfigFile is the JSON file the options were read from, "" for none.
	// It is set by Load from --config or ETAXD_CONFIG, never by the file.
	ConfigFile string

	// DataDir holds the bbolt file, the development key file and demo.json.
	DataDir string
	// Listen is the HTTP address, host:port.
	Listen string
	// Dev is development mode, off by default: a missing master key file
	// is created (mode 0600) with a fresh key, the dev sign-in, the dev
	// inboxes and the simulator's test endpoints are served to loopback
	// browsers, and /ops answers loopback clients without a token. Because
	// of what it exposes, serve refuses dev mode on a non-loopback address
	// (see ValidateServe).
	Dev bool
	// KeyFile is the master key file; "" means <DataDir>/master.keys
	// (see KeyPath).
	KeyFile string
	// KeysEnv names the environment variable that may hold master keys too.
	KeysEnv string
	// Demo seeds the demo tenant at start and writes <DataDir>/demo.json.
	Demo bool
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
	// ServiceName is the WeChat official account named in prompts (F6).
	ServiceName string
	// NodeName names this node in /ops/status; "" means the host name.
	NodeName string
	// PublicURL is where browsers and ERPs reach etaxd: the base of F16
	// login links and of the URLs etaxd prints: scheme, host and port only
	// (Validate refuses a path; etaxd serves from the root of its host).
	// "" means http://<listen> (see BaseURL).
	PublicURL string
	// OperatorToken guards /ops/*: a request must carry it as a bearer
	// token. "" outside dev mode means the token of <DataDir>/operator.token
	// (see OperatorTokenPath), which serve creates at first start; "" in dev
	// mode means the ops endpoints answer loopback clients only. It is a
	// secret: nothing logs or prints it.
	OperatorToken string

	// Lock holds the F13 thresholds of hosted accounts.
	Lock domain.LockPolicy
	// SMS is the B3 budget.
	SMS domain.SMSPolicy
	// CodeTTL is how long a person has to enter an SMS code.
	CodeTTL time.Duration
	// PromptReminder re-sends an unanswered prompt after this long (B5);
	// zero: never.
	PromptReminder time.Duration
	// PromptEscalate sends the reminder to the enterprise's admins too.
	PromptEscalate bool
	// IdleTimeout passivates an account actor idle that long.
	IdleTimeout time.Duration
	// GatewayTimeout bounds every tax-bureau call.
	GatewayTimeout time.Duration

	// PasswordGuard limits wrong tax-bureau passwords per natural person,
	// below the bureau's own lock.
	PasswordGuard domain.PasswordGuard
	// PasswordPerOpenID limits the wrong passwords one WeChat user may
	// submit per 10 minutes (F3, F8, F9, F12).
	PasswordPerOpenID int
	// Activation limits wrong activation codes beyond the per-openid F1
	// limit.
	Activation ActivationOptions

	// NATS says which NATS etaxd uses for prompts and events.
	NATS NATSOptions
	// TaxBureau says which tax bureau etaxd talks to.
	TaxBureau TaxBureauOptions
	// WeChat is the official account that delivers prompts; without an
	// AppID prompts go to the dev inbox.
	WeChat WeChatOptions

	// Webhooks holds the client webhooks' options.
	Webhooks WebhookOptions

	// Store tunes the single node's bbolt store.
	Store StoreOptions

	// Cluster makes this node one of several etaxd nodes serving as one
	// (see ClusterOptions); zero means a single node.
	Cluster ClusterOptions

	// Sim holds the in-process tax-bureau simulator's knobs.
	Sim SimOptions
}

// StoreOptions tune the single node's bbolt file (a cluster node keeps its
// state in JetStream and ignores them).
type StoreOptions struct {
	// KeepReadPages leaves the file's pages that reads touched mapped into
	// the process, as bbolt does; false (the default) gives them back
	// (persistence.BoltOptions.KeepReadPages).
	KeepReadPages bool
}

// WebhookOptions are the client webhooks' settings.
type WebhookOptions struct {
	// AllowPrivate lets webhook URLs resolve to loopback, private or
	// link-local addresses, for ERPs on the operator's own network. Off,
	// such URLs are refused: a tenant could otherwise make etaxd call
	// services that only the host can reach.
	AllowPrivate bool
}

// SimOptions are the simulator rules an operator may change; the others
// keep taxbureau.DefaultSimConfig's values.
type SimOptions struct {
	// SessionLength is how long a bureau session lives.
	SessionLength time.Duration
	// QRValidity is how long a login QR code may be scanned.
	QRValidity time.Duration
	// CertValidity is how long a face certification counts; 0 means one
	// invoice only.
	CertValidity time.Duration
	// NoSMSRegions are the region codes whose login skips the SMS step.
	NoSMSRegions []string
	// TestEndpoints serves the simulator's test-only endpoints (/sim/v1/…)
	// when etaxd runs the in-process simulator in dev mode; see
	// Options.SimTestEndpoints.
	TestEndpoints bool
}

// ActivationOptions limit wrong activation codes per 10 minutes per client
// address and across etaxd, whatever the openid.
type ActivationOptions struct {
	PerAddress int
	Total      int
}

// NATSOptions choose the NATS etaxd uses: the embedded server (the
// default) or external servers.
type NATSOptions struct {
	// URLs are external servers; empty means the embedded server, whose
	// JetStream store lives under the data directory (see NATSStoreDir).
	URLs []string
	// Listen is the embedded server's client address for ERPs (host:port);
	// "" means the embedded server takes in-process connections only.
	Listen string
	// Token is the client token of the embedded server's listener, and of
	// etaxd's own connections to it; required with Listen. With URLs it is
	// the token etaxd presents to the external servers. A secret.
	Token string
	// User and Password authenticate etaxd to the external servers (URLs);
	// Password is a secret. Set at most one kind of credentials: User and
	// Password, Token, CredsFile, or user info in the URLs.
	User     string
	Password string
	// CredsFile is a .creds file (a user JWT and its NKey seed) for
	// external servers run in operator (decentralised JWT) mode.
	CredsFile string
	// TLSCAFile is a PEM file of the CAs that sign the external servers'
	// certificates; set, etaxd connects with TLS and verifies them against
	// it (without it, a tls:// URL is verified against the system's CAs).
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a PEM client certificate and its key,
	// for servers that verify their clients (tls { verify: true }); both or
	// neither.
	TLSCertFile string
	TLSKeyFile  string
	// SyncAlways fsyncs the embedded server's JetStream file store on every
	// write. Off, the store syncs every two minutes: faster, but a power
	// loss may lose what was acknowledged since (see README).
	SyncAlways bool
	// Replicas is the JetStream replica count of etaxd's streams: 1 on the
	// embedded single node, 3 on a cluster.
	Replicas int
}

// Embedded reports whether etaxd runs its own NATS server (no URLs).
func (n NATSOptions) Embedded() bool { return len(n.URLs) == 0 }

// ClusterOptions join this node to a cluster of etaxd nodes (Peers set),
// in one of two shapes:
//
//   - embedded NATS (NATS.URLs empty): each node embeds a NATS server
//     routed to the others' (JetStream replicated across the nodes); Listen
//     and Peers are the servers' route addresses, ActorListen the actor
//     remote's;
//   - external NATS (NATS.URLs set): every node is a client of one NATS
//     cluster run apart from etaxd, which holds the replicas; there are no
//     routes, and Listen and Peers are the nodes' actor remote addresses
//     (ActorListen stays empty).
//
// In both, the nodes place tenants among themselves. The zero value is a
// single node.

type ClusterOptions struct {
	// Listen is this node's address (host:port, a fixed port) that the
	// other nodes' Peers name; required in cluster mode. With the embedded
	// NATS it is the server's route address; with external NATS the actor
	// remote's address.
	Listen string
	// Peers lists the Listen addresses of all nodes (host:port); this
	// node's own may be included. Cluster mode is on when it is set.
	Peers []string
	// ActorListen is the address (host:port) of this node's actor remote,
	// which the other nodes send tenant messages to, with the embedded
	// NATS. "" means Listen's host on a port the system picks; the member
	// record carries the one in use. With external NATS the actor remote
	// listens on Listen and ActorListen must be empty.
	ActorListen string
}

// Enabled reports whether cluster mode is on (Peers is set).
func (c ClusterOptions) Enabled() bool { return len(c.Peers) > 0 }

// Routes returns Peers without this node's own route address.
func (c ClusterOptions) Routes() []string {
	out := make([]string, 0, len(c.Peers))
	for _, p := range c.Peers {
		if p != c.Listen {
			out = append(out, p)
		}
	}
	return out
}

// MinClusterReplicas is the smallest JetStream replica count in cluster
// mode: with three copies a stream survives the loss of any one node.
const MinClusterReplicas = 3

// StreamReplicas returns the JetStream replica count of etaxd's streams and
// buckets: NATS.Replicas, raised to MinClusterReplicas in cluster mode (the
// default 1 then means 3).
func (o Options) StreamReplicas() int {
	if o.Cluster.Enabled() && o.NATS.Replicas < MinClusterReplicas {
		return MinClusterReplicas
	}
	return o.NATS.Replicas
}

// TaxBureauOptions choose the tax bureau: a gateway over HTTP
// (docs/GATEWAY.md) or the in-process simulator.
type TaxBureauOptions struct {
	// URL is the HTTP gateway's base URL; SimURL ("sim:") means the
	// in-process simulator, chosen on purpose; "" means the simulator too,
	// which serve accepts in dev mode only (see ValidateServe).
	URL string
	// Token is the bearer token the gateway expects, if any. It is a
	// secret: nothing logs or prints it.
	Token string
}

// WeChatOptions are the official account's settings (docs/WECHAT.md).
// AppSecret, Token and EncodingAESKey are secrets: nothing logs or prints
// them.
type WeChatOptions struct {
	AppID          string
	AppSecret      string
	Token          string
	EncodingAESKey string
	TemplateID     string
}

// Enabled reports whether WeChat delivers the prompts.
func (w WeChatOptions) Enabled() bool { return w.AppID != "" }

// SimURL is the taxbureau.url that names the in-process simulator on
// purpose: outside dev mode an empty URL is refused, so that nobody serves
// fake tax-bureau sessions to ERPs by forgetting the gateway.
const SimURL = "sim:"

// InProcess reports whether etaxd uses the in-process simulator: URL is
// empty or SimURL.
func (t TaxBureauOptions) InProcess() bool { return t.URL == "" || t.URL == SimURL }

// SimChosen reports whether the in-process simulator was named on purpose
// (URL is SimURL).
func (t TaxBureauOptions) SimChosen() bool { return t.URL == SimURL }

// Default returns the options of a fresh install: data under ./data, HTTP
// on 127.0.0.1:8080, production mode (dev off: `make run` passes --dev),
// and the manual's numbers.
func Default() Options {
	ec := actors.DefaultConfig()
	sc := taxbureau.DefaultSimConfig()
	return Options{
		DataDir:        "./data",
		Listen:         "127.0.0.1:8080",
		KeysEnv:        "ETAXD_MASTER_KEYS",
		LogLevel:       "info",
		LogFormat:      "text",
		ServiceName:    "发票云",
		Lock:           domain.DefaultLockPolicy(),
		SMS:            domain.DefaultSMSPolicy(),
		CodeTTL:        ec.CodeTTL,
		PromptReminder: ec.PromptReminder,
		PromptEscalate: ec.PromptEscalate,
		IdleTimeout:    ec.IdleTimeout,
		GatewayTimeout: ec.GatewayTimeout,
		NATS:           NATSOptions{SyncAlways: true, Replicas: 1},

		PasswordGuard:     ec.PasswordGuard,
		PasswordPerOpenID: ec.PasswordFlowLimit,
		Activation:        ActivationOptions{PerAddress: ec.ActivationPerAddress, Total: ec.ActivationTotal},
		Sim: SimOptions{
			SessionLength: sc.SessionLength,
			QRValidity:    sc.QRValidity,
			CertValidity:  sc.CertValidity,
			NoSMSRegions:  slices.Clone(sc.NoSMSRegions),
			TestEndpoints: true,
		},
	}
}

// redacted stands for a secret option that is set, wherever options are
// printed.
const redacted = "[redacted]"

// Redacted returns o with its secrets (OperatorToken, TaxBureau.Token,
// NATS.Token, NATS.Password and any user info in NATS.URLs) replaced by
// "[redacted]" when set.
func (o Options) Redacted() Options {
	if o.OperatorToken != "" {
		o.OperatorToken = redacted
	}
	if o.TaxBureau.Token != "" {
		o.TaxBureau.Token = redacted
	}
	if o.NATS.Token != "" {
		o.NATS.Token = redacted
	}
	if o.NATS.Password != "" {
		o.NATS.Password = redacted
	}
	for _, p := range []*string{&o.WeChat.AppSecret, &o.WeChat.Token, &o.WeChat.EncodingAESKey} {
		if *p != "" {
			*p = redacted
		}
	}
	if len(o.NATS.URLs) > 0 {
		urls := make([]string, len(o.NATS.URLs))
		for i, s := range o.NATS.URLs {
			urls[i] = s
			if u, err := url.Parse(s); err == nil && u.User != nil {
				u.User = url.User(redacted)
				urls[i] = u.String()
			} else if err != nil && strings.Contains(s, "@") {
				urls[i] = redacted
			}
		}
		o.NATS.URLs = urls
	}
	o.Sim.NoSMSRegions = slices.Clone(o.Sim.NoSMSRegions)
	return o
}

// String formats the options as %+v would, secrets redacted, so that
// printing or logging them never shows a token.
func (o Options) String() string {
	type plain Options // no String method: no recursion
	return fmt.Sprintf("%+v", plain(o.Redacted()))
}

// GoString is String, for %#v.
func (o Options) GoString() string { return o.String() }

// LogValue is String, for slog (whose JSON handler would otherwise marshal
// every field).
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

// KeyPath returns the master key file: KeyFile, or master.keys in DataDir.
func (o Options) KeyPath() string {
	if o.KeyFile != "" {
		return o.KeyFile
	}
	return filepath.Join(o.DataDir, "master.keys")
}

// DBPath returns the bbolt file in DataDir.
func (o Options) DBPath() string { return filepath.Join(o.DataDir, "etaxd.db") }

// OperatorTokenPath returns operator.token in DataDir: the operator token
// serve creates outside dev mode when OperatorToken is empty, and the
// operator commands read.
func (o Options) OperatorTokenPath() string { return filepath.Join(o.DataDir, "operator.token") }

// DemoPath returns demo.json in DataDir.
func (o Options) DemoPath() string { return filepath.Join(o.DataDir, "demo.json") }

// SimPersonsPath returns sim-persons.json in DataDir: the in-process
// simulator's persons, kept across restarts.
func (o Options) SimPersonsPath() string { return filepath.Join(o.DataDir, "sim-persons.json") }

// NATSStoreDir returns the embedded NATS server's JetStream store
// directory: nats in DataDir.
func (o Options) NATSStoreDir() string { return filepath.Join(o.DataDir, "nats") }

// LocalURL returns http://<listen> as a client on this machine reaches it:
// an unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") becomes the
// loopback address. With port 0 it names port 0: set Listen to the bound
// address first (serve does).
func (o Options) LocalURL() string {
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return "http://" + o.Listen // Validate refuses it; keep it visible
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// BaseURL returns where browsers and ERPs reach etaxd: PublicURL without a
// trailing slash, or LocalURL when it is empty.
func (o Options) BaseURL() string {
	if o.PublicURL != "" {
		return strings.TrimRight(o.PublicURL, "/")
	}
	return o.LocalURL()
}

// SimTestEndpoints reports whether etaxd serves the simulator's test-only
// endpoints (POST /sim/v1/persons, GET /sim/v1/sms): only when they are on,
// in dev mode, and the tax bureau is the in-process simulator. They create
// persons and reveal SMS codes, so production never serves them.
func (o Options) SimTestEndpoints() bool {
	return o.Sim.TestEndpoints && o.Dev && o.TaxBureau.InProcess()
}

// DevInbox reports whether etaxd serves the dev inbox (GET /dev/inbox):
// in dev mode only.
func (o Options) DevInbox() bool { return o.Dev }

// Node returns NodeName, or the host name when it is empty.
func (o Options) Node() string {
	if o.NodeName != "" {
		return o.NodeName
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "etaxd"
}

// SlogLevel returns LogLevel as a slog level (info for an unknown one:
// Validate refuses those).
func (o Options) SlogLevel() slog.Level {
	switch strings.ToLower(o.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// EngineConfig returns the actor engine's configuration: the options' rules
// and timings over actors.DefaultConfig.
func (o Options) EngineConfig() actors.Config {
	c := actors.DefaultConfig()
	c.LockPolicy = o.Lock
	c.SMSPolicy = o.SMS
	c.CodeTTL = o.CodeTTL
	c.PromptReminder, c.PromptEscalate = o.PromptReminder, o.PromptEscalate
	if o.PromptReminder == 0 {
		c.PromptReminder = -1 // the engine's zero means its default
	}
	c.IdleTimeout = o.IdleTimeout
	c.GatewayTimeout = o.GatewayTimeout
	c.PasswordGuard, c.PasswordFlowLimit = o.PasswordGuard, o.PasswordPerOpenID
	c.ActivationPerAddress, c.ActivationTotal = o.Activation.PerAddress, o.Activation.Total
	c.ServiceName = o.ServiceName
	c.PublicURL = o.BaseURL()
	// Without an official account only dev mode has a notifier a person
	// reads (the dev inbox page): in production every prompt is a login
	// link handed to the client.
	c.LoginLinksOnly = !o.Dev && !o.WeChat.Enabled()
	return c
}

// SimConfig returns the simulator's configuration: the Sim options over
// taxbureau.DefaultSimConfig.
func (o Options) SimConfig() taxbureau.SimConfig {
	c := taxbureau.DefaultSimConfig()
	c.SessionLength = o.Sim.SessionLength
	c.QRValidity = o.Sim.QRValidity
	c.CertValidity = o.Sim.CertValidity
	c.NoSMSRegions = slices.Clone(o.Sim.NoSMSRegions)
	return c
}

// WeChatConfig is the wechat package's configuration from o.
func (o Options) WeChatConfig() wechat.Config {
	return wechat.Config{AppID: o.WeChat.AppID, AppSecret: o.WeChat.AppSecret, Token: o.WeChat.Token,
		EncodingAESKey: o.WeChat.EncodingAESKey, TemplateID: o.WeChat.TemplateID, PublicURL: o.BaseURL(), ServiceName: o.ServiceName}
}
