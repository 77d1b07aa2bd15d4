package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvConfigFile names the environment variable that gives the config file
// when --config is not set.
const EnvConfigFile = "ETAXD_CONFIG"

// maxFileSize bounds the config file: it is a few hundred bytes in practice.
const maxFileSize = 1 << 20

// Field describes one option: its file key, environment variable, flag and
// meaning. Fields lists them all; it is what the loader, the flag usage and
// the README table are built from.
type Field struct {
	// Key is the JSON file key; a dot separates an object from its member
	// ("sim.qr_validity" is {"sim": {"qr_validity": ...}}).
	Key string
	// Env is the environment variable.
	Env string
	// Flag is the flag name, without dashes.
	Flag string
	// Meta names the kind of value in the usage text (DIR, DURATION, ...).
	Meta string
	// Help says what the option does.
	Help string

	ptr func(*Options) any
}

// Default returns the option's default value as it would be written in the
// environment or on the command line ("" when it has none).
func (f Field) Default() string {
	o := Default()
	return formatValue(f.ptr(&o))
}

// Fields returns every option, in the order of the README table.
func Fields() []Field {
	return []Field{
		{Key: "data_dir", Env: "ETAXD_DATA", Flag: "data", Meta: "DIR",
			Help: "data directory: the bbolt file etaxd.db, the development key file and demo.json",
			ptr:  func(o *Options) any { return &o.DataDir }},
		{Key: "listen", Env: "ETAXD_LISTEN", Flag: "listen", Meta: "ADDR",
			Help: "HTTP listen address host:port (port 0 picks a free port)",
			ptr:  func(o *Options) any { return &o.Listen }},
		{Key: "dev", Env: "ETAXD_DEV", Flag: "dev", Meta: "BOOL",
			Help: "development mode, loopback only: create a missing master key file, serve the dev sign-in, the dev inboxes and the simulator's test endpoints to this machine, ops without a token from this machine",
			ptr:  func(o *Options) any { return &o.Dev }},
		{Key: "key_file", Env: "ETAXD_KEY_FILE", Flag: "key-file", Meta: "FILE",
			Help: "master key file, lines \"v<N>:<base64 of 32 bytes>\" (default <data>/master.keys)",
			ptr:  func(o *Options) any { return &o.KeyFile }},
		{Key: "keys_env", Env: "ETAXD_KEYS_ENV", Flag: "keys-env", Meta: "NAME",
			Help: "name of the environment variable that may hold master keys as well, separated by ';'",
			ptr:  func(o *Options) any { return &o.KeysEnv }},
		{Key: "demo", Env: "ETAXD_DEMO", Flag: "demo", Meta: "BOOL",
			Help: "seed the demo tenant (idempotent) and write <data>/demo.json",
			ptr:  func(o *Options) any { return &o.Demo }},
		{Key: "log_level", Env: "ETAXD_LOG_LEVEL", Flag: "log-level", Meta: "LEVEL",
			Help: "log level: debug, info, warn or error",
			ptr:  func(o *Options) any { return &o.LogLevel }},
		{Key: "log_format", Env: "ETAXD_LOG_FORMAT", Flag: "log-format", Meta: "FORMAT",
			Help: "log format on stderr: text or json",
			ptr:  func(o *Options) any { return &o.LogFormat }},
		{Key: "service_name", Env: "ETAXD_SERVICE_NAME", Flag: "service-name", Meta: "NAME",
			Help: "WeChat official account named in login prompts (F6)",
			ptr:  func(o *Options) any { return &o.ServiceName }},
		{Key: "node_name", Env: "ETAXD_NODE_NAME", Flag: "node-name", Meta: "NAME",
			Help: "this node's name in /ops/status (default the host name)",
			ptr:  func(o *Options) any { return &o.NodeName }},
		{Key: "public_url", Env: "ETAXD_PUBLIC_URL", Flag: "public-url", Meta: "URL",
			Help: "where browsers and ERPs reach etaxd, scheme://host[:port] without a path: the base of login links and printed URLs (default http://<listen>)",
			ptr:  func(o *Options) any { return &o.PublicURL }},
		{Key: "operator_token", Env: "ETAXD_OPERATOR_TOKEN", Flag: "operator-token", Meta: "TOKEN",
			Help: "bearer token that guards /ops/* and /metrics (empty: <data>/operator.token, created at first start; in dev mode: loopback clients only); prefer the environment, flags show in ps",
			ptr:  func(o *Options) any { return &o.OperatorToken }},
		{Key: "lock.max_wrong_password", Env: "ETAXD_LOCK_MAX_WRONG_PASSWORD", Flag: "lock-max-wrong-password", Meta: "N",
			Help: "hosted accounts lock after this many wrong passwords (F13)",
			ptr:  func(o *Options) any { return &o.Lock.MaxWrongPassword }},
		{Key: "lock.max_wrong_code", Env: "ETAXD_LOCK_MAX_WRONG_CODE", Flag: "lock-max-wrong-code", Meta: "N",
			Help: "hosted accounts lock after this many wrong SMS codes (F13)",
			ptr:  func(o *Options) any { return &o.Lock.MaxWrongCode }},
		{Key: "lock.max_code_timeouts", Env: "ETAXD_LOCK_MAX_CODE_TIMEOUTS", Flag: "lock-max-code-timeouts", Meta: "N",
			Help: "hosted accounts lock after this many SMS code timeouts (F13)",
			ptr:  func(o *Options) any { return &o.Lock.MaxCodeTimeouts }},
		{Key: "sms.per_phone_per_day", Env: "ETAXD_SMS_PER_PHONE_PER_DAY", Flag: "sms-per-phone-per-day", Meta: "N",
			Help: "SMS codes etaxd asks for per phone per region per day (B3)",
			ptr:  func(o *Options) any { return &o.SMS.PerPhonePerDay }},
		{Key: "sms.per_account_interval", Env: "ETAXD_SMS_PER_ACCOUNT_INTERVAL", Flag: "sms-per-account-interval", Meta: "DURATION",
			Help: "minimum time between two SMS codes of one account (B3)",
			ptr:  func(o *Options) any { return &o.SMS.PerAccountInterval }},
		{Key: "code_ttl", Env: "ETAXD_CODE_TTL", Flag: "code-ttl", Meta: "DURATION",
			Help: "how long a person has to enter an SMS code",
			ptr:  func(o *Options) any { return &o.CodeTTL }},
		{Key: "prompt_reminder", Env: "ETAXD_PROMPT_REMINDER", Flag: "prompt-reminder", Meta: "DURATION",
			Help: "re-send a prompt still unanswered after this long (B5; 0: never); only prompts that live longer are reminded (an SMS code lives code_ttl)",
			ptr:  func(o *Options) any { return &o.PromptReminder }},
		{Key: "prompt_escalate", Env: "ETAXD_PROMPT_ESCALATE", Flag: "prompt-escalate", Meta: "BOOL",
			Help: "send the reminder to the enterprise's 数电配置管理员 too (B5)",
			ptr:  func(o *Options) any { return &o.PromptEscalate }},
		{Key: "idle_timeout", Env: "ETAXD_IDLE_TIMEOUT", Flag: "idle-timeout", Meta: "DURATION",
			Help: "an account actor idle this long is passivated (its state stays in the store)",
			ptr:  func(o *Options) any { return &o.IdleTimeout }},
		{Key: "gateway_timeout", Env: "ETAXD_GATEWAY_TIMEOUT", Flag: "gateway-timeout", Meta: "DURATION",
			Help: "bound on every tax-bureau call",
			ptr:  func(o *Options) any { return &o.GatewayTimeout }},
		{Key: "pwguard.max_wrong", Env: "ETAXD_PWGUARD_MAX_WRONG", Flag: "pwguard-max-wrong", Meta: "N",
			Help: "etaxd stops submitting a person's tax-bureau password after this many wrong ones within pwguard.window (1-4: the bureau locks at 5)",
			ptr:  func(o *Options) any { return &o.PasswordGuard.MaxWrong }},
		{Key: "pwguard.window", Env: "ETAXD_PWGUARD_WINDOW", Flag: "pwguard-window", Meta: "DURATION",
			Help: "how long a wrong tax-bureau password counts (at least 24h)",
			ptr:  func(o *Options) any { return &o.PasswordGuard.Window }},
		{Key: "pwguard.per_openid", Env: "ETAXD_PWGUARD_PER_OPENID", Flag: "pwguard-per-openid", Meta: "N",
			Help: "wrong tax-bureau passwords one WeChat user may submit per 10 minutes (F3, F8, F9, F12), whoever's they are",
			ptr:  func(o *Options) any { return &o.PasswordPerOpenID }},
		{Key: "activation.per_address", Env: "ETAXD_ACTIVATION_PER_ADDRESS", Flag: "activation-per-address", Meta: "N",
			Help: "wrong activation codes per client address per 10 minutes, whatever the openid (F1)",
			ptr:  func(o *Options) any { return &o.Activation.PerAddress }},
		{Key: "activation.total", Env: "ETAXD_ACTIVATION_TOTAL", Flag: "activation-total", Meta: "N",
			Help: "wrong activation codes across etaxd per 10 minutes (F1)",
			ptr:  func(o *Options) any { return &o.Activation.Total }},
		{Key: "nats.urls", Env: "ETAXD_NATS_URLS", Flag: "nats-urls", Meta: "URLS",
			Help: "external NATS servers, comma-separated; may carry credentials (empty: the embedded server, store under <data>/nats)",
			ptr:  func(o *Options) any { return &o.NATS.URLs }},
		{Key: "nats.listen", Env: "ETAXD_NATS_LISTEN", Flag: "nats-listen", Meta: "ADDR",
			Help: "embedded NATS server: client address host:port for ERPs (empty: in-process connections only)",
			ptr:  func(o *Options) any { return &o.NATS.Listen }},
		{Key: "nats.token", Env: "ETAXD_NATS_TOKEN", Flag: "nats-token", Meta: "TOKEN",
			Help: "embedded NATS server: the token clients of nats.listen must present (required with nats.listen); with nats.urls: the token etaxd presents to the servers; prefer the environment, flags show in ps",
			ptr:  func(o *Options) any { return &o.NATS.Token }},
		{Key: "nats.user", Env: "ETAXD_NATS_USER", Flag: "nats-user", Meta: "NAME",
			Help: "external NATS (nats.urls): the user etaxd authenticates as, with nats.password",
			ptr:  func(o *Options) any { return &o.NATS.User }},
		{Key: "nats.password", Env: "ETAXD_NATS_PASSWORD", Flag: "nats-password", Meta: "SECRET",
			Help: "external NATS (nats.urls): nats.user's password (a secret, never logged: prefer the environment, flags show in ps)",
			ptr:  func(o *Options) any { return &o.NATS.Password }},
		{Key: "nats.creds_file", Env: "ETAXD_NATS_CREDS_FILE", Flag: "nats-creds-file", Meta: "FILE",
			Help: "external NATS (nats.urls): a .creds file (user JWT and NKey seed) for servers in operator mode",
			ptr:  func(o *Options) any { return &o.NATS.CredsFile }},
		{Key: "nats.tls_ca_file", Env: "ETAXD_NATS_TLS_CA_FILE", Flag: "nats-tls-ca-file", Meta: "FILE",
			Help: "external NATS (nats.urls): PEM file of the CAs that sign the servers' certificates; set: connect with TLS, verified against them",
			ptr:  func(o *Options) any { return &o.NATS.TLSCAFile }},
		{Key: "nats.tls_cert_file", Env: "ETAXD_NATS_TLS_CERT_FILE", Flag: "nats-tls-cert-file", Meta: "FILE",
			Help: "external NATS (nats.urls): PEM client certificate, for servers that verify clients (with nats.tls_key_file)",
			ptr:  func(o *Options) any { return &o.NATS.TLSCertFile }},
		{Key: "nats.tls_key_file", Env: "ETAXD_NATS_TLS_KEY_FILE", Flag: "nats-tls-key-file", Meta: "FILE",
			Help: "external NATS (nats.urls): the PEM key of nats.tls_cert_file",
			ptr:  func(o *Options) any { return &o.NATS.TLSKeyFile }},
		{Key: "nats.sync_always", Env: "ETAXD_NATS_SYNC_ALWAYS", Flag: "nats-sync-always", Meta: "BOOL",
			Help: "embedded NATS server: fsync JetStream on every write (false: every 2 min, faster, may lose the last writes on power loss)",
			ptr:  func(o *Options) any { return &o.NATS.SyncAlways }},
		{Key: "nats.replicas", Env: "ETAXD_NATS_REPLICAS", Flag: "nats-replicas", Meta: "N",
			Help: "JetStream replicas of etaxd's streams (1 on a single node; in cluster mode at least 3, the default 1 meaning 3)",
			ptr:  func(o *Options) any { return &o.NATS.Replicas }},
		{Key: "cluster.listen", Env: "ETAXD_CLUSTER_LISTEN", Flag: "cluster-listen", Meta: "ADDR",
			Help: "cluster mode: this node's address host:port (a fixed port), named in every node's cluster.peers: the NATS route address with the embedded NATS, the actor address with nats.urls",
			ptr:  func(o *Options) any { return &o.Cluster.Listen }},
		{Key: "cluster.peers", Env: "ETAXD_CLUSTER_PEERS", Flag: "cluster-peers", Meta: "ADDRS",
			Help: "the cluster.listen addresses host:port of all nodes, comma-separated, this one's may be included (set: cluster mode; empty: a single node)",
			ptr:  func(o *Options) any { return &o.Cluster.Peers }},
		{Key: "cluster.actor_listen", Env: "ETAXD_CLUSTER_ACTOR_LISTEN", Flag: "cluster-actor-listen", Meta: "ADDR",
			Help: "cluster mode, embedded NATS: this node's actor address host:port for tenant messages from other nodes (empty: cluster.listen's host, a free port); with nats.urls it is cluster.listen and this stays empty",
			ptr:  func(o *Options) any { return &o.Cluster.ActorListen }},
		{Key: "taxbureau.url", Env: "ETAXD_TAXBUREAU_URL", Flag: "taxbureau-url", Meta: "URL",
			Help: "tax-bureau gateway base URL, or sim: for the in-process simulator (empty: the simulator in dev mode, refused otherwise)",
			ptr:  func(o *Options) any { return &o.TaxBureau.URL }},
		{Key: "taxbureau.token", Env: "ETAXD_TAXBUREAU_TOKEN", Flag: "taxbureau-token", Meta: "TOKEN",
			Help: "bearer token the tax-bureau gateway expects; prefer the environment, flags show in ps",
			ptr:  func(o *Options) any { return &o.TaxBureau.Token }},
		{Key: "wechat.app_id", Env: "ETAXD_WECHAT_APP_ID", Flag: "wechat-app-id", Meta: "ID",
			Help: "WeChat official account AppID; set, prompts go out as template messages instead of to the dev inbox",
			ptr:  func(o *Options) any { return &o.WeChat.AppID }},
		{Key: "wechat.app_secret", Env: "ETAXD_WECHAT_APP_SECRET", Flag: "wechat-app-secret", Meta: "SECRET",
			Help: "WeChat AppSecret (a secret: prefer the environment)",
			ptr:  func(o *Options) any { return &o.WeChat.AppSecret }},
		{Key: "wechat.token", Env: "ETAXD_WECHAT_TOKEN", Flag: "wechat-token", Meta: "TOKEN",
			Help: "the callback token registered in the WeChat console",
			ptr:  func(o *Options) any { return &o.WeChat.Token }},
		{Key: "wechat.encoding_aes_key", Env: "ETAXD_WECHAT_ENCODING_AES_KEY", Flag: "wechat-encoding-aes-key", Meta: "KEY",
			Help: "the callback EncodingAESKey (safe mode); empty: plain mode",
			ptr:  func(o *Options) any { return &o.WeChat.EncodingAESKey }},
		{Key: "wechat.template_id", Env: "ETAXD_WECHAT_TEMPLATE_ID", Flag: "wechat-template-id", Meta: "ID",
			Help: "the template message id for login prompts",
			ptr:  func(o *Options) any { return &o.WeChat.TemplateID }},
		{Key: "webhooks.allow_private", Env: "ETAXD_WEBHOOKS_ALLOW_PRIVATE", Flag: "webhooks-allow-private", Meta: "BOOL",
			Help: "allow webhook URLs that resolve to loopback/private/link-local addresses, for on-premises ERPs",
			ptr:  func(o *Options) any { return &o.Webhooks.AllowPrivate }},
		{Key: "store.keep_read_pages", Env: "ETAXD_STORE_KEEP_READ_PAGES", Flag: "store-keep-read-pages", Meta: "BOOL",
			Help: "single node: leave the store file's pages that reads touched mapped into the process (false: give them back, about 32 MiB at most stays mapped; they stay in the page cache)",
			ptr:  func(o *Options) any { return &o.Store.KeepReadPages }},
		{Key: "sim.session_length", Env: "ETAXD_SIM_SESSION_LENGTH", Flag: "sim-session-length", Meta: "DURATION",
			Help: "simulator: how long a bureau session lives",
			ptr:  func(o *Options) any { return &o.Sim.SessionLength }},
		{Key: "sim.qr_validity", Env: "ETAXD_SIM_QR_VALIDITY", Flag: "sim-qr-validity", Meta: "DURATION",
			Help: "simulator: how long a login QR code may be scanned (F15)",
			ptr:  func(o *Options) any { return &o.Sim.QRValidity }},
		{Key: "sim.cert_validity", Env: "ETAXD_SIM_CERT_VALIDITY", Flag: "sim-cert-validity", Meta: "DURATION",
			Help: "simulator: how long a face certification counts (0: every invoice needs one)",
			ptr:  func(o *Options) any { return &o.Sim.CertValidity }},
		{Key: "sim.no_sms_regions", Env: "ETAXD_SIM_NO_SMS_REGIONS", Flag: "sim-no-sms-regions", Meta: "CODES",
			Help: "simulator: region codes whose login skips the SMS step, comma-separated",
			ptr:  func(o *Options) any { return &o.Sim.NoSMSRegions }},
		{Key: "sim.test_endpoints", Env: "ETAXD_SIM_TEST_ENDPOINTS", Flag: "sim-test-endpoints", Meta: "BOOL",
			Help: "simulator: serve POST /sim/v1/persons and GET /sim/v1/sms (only in dev mode with the in-process simulator)",
			ptr:  func(o *Options) any { return &o.Sim.TestEndpoints }},
	}
}

func fieldByKey(key string) (Field, bool) {
	for _, f := range Fields() {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// isGroup reports whether key names a JSON object of options ("sim").
func isGroup(key string) bool {
	for _, f := range Fields() {
		if strings.HasPrefix(f.Key, key+".") {
			return true
		}
	}
	return false
}

// SourceError is a value that could not be read: a malformed or unknown
// key in the config file, or an environment variable or flag whose text is
// not of the option's kind.
type SourceError struct {
	// Source is where the value came from: "file etaxd.json",
	// "env ETAXD_CODE_TTL" or "flag --code-ttl".
	Source string
	// Key is the option's file key ("" when the whole file is at fault).
	Key string
	Err error
}

func (e *SourceError) Error() string {
	if e.Key == "" {
		return e.Source + ": " + e.Err.Error()
	}
	return fmt.Sprintf("%s (%s): %v", e.Source, e.Key, e.Err)
}

func (e *SourceError) Unwrap() error { return e.Err }

// Loader binds the option flags, and --config, to a flag set. After the set
// is parsed, Options reads the file and the environment and applies the
// flags that were given. Subcommands add flags of their own to the same set.
type Loader struct {
	flags  map[string]*flagValue
	config *flagValue
}

// Bind adds a flag for every option and --config to fs.
func Bind(fs *flag.FlagSet) *Loader {
	l := &Loader{flags: map[string]*flagValue{}, config: &flagValue{}}
	fs.Var(l.config, "config", "JSON config `FILE` (env "+EnvConfigFile+")")
	for _, f := range Fields() {
		o := Default()
		_, isBool := f.ptr(&o).(*bool)
		v := &flagValue{def: f.Default(), isBool: isBool}
		l.flags[f.Flag] = v
		fs.Var(v, f.Flag, fmt.Sprintf("`%s`: %s (env %s)", f.Meta, f.Help, f.Env))
	}
	return l
}

// Options returns Default with the config file, the environment and the
// parsed flags applied, in that order, then validated. lookupEnv reads the
// environment (nil: os.LookupEnv); a variable set to "" counts as unset.
// The error joins every problem found (see Problems); the options returned
// with it are as far as they could be read.
func (l *Loader) Options(lookupEnv func(string) (string, bool)) (Options, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	o := Default()
	var errs []error

	path := ""
	if l.config.set {
		path = l.config.s
	} else if v, ok := lookupEnv(EnvConfigFile); ok && v != "" {
		path = v
	}
	if path != "" {
		o.ConfigFile = path
		errs = append(errs, applyFile(&o, path)...)
	}

	fields := Fields()
	for _, f := range fields {
		v, ok := lookupEnv(f.Env)
		if !ok || v == "" {
			continue
		}
		if err := setString(f.ptr(&o), v); err != nil {
			errs = append(errs, &SourceError{Source: "env " + f.Env, Key: f.Key, Err: err})
		}
	}
	for _, f := range fields {
		fv := l.flags[f.Flag]
		if fv == nil || !fv.set {
			continue
		}
		if err := setString(f.ptr(&o), fv.s); err != nil {
			errs = append(errs, &SourceError{Source: "flag --" + f.Flag, Key: f.Key, Err: err})
		}
	}
	errs = append(errs, Problems(o.Validate())...)
	return o, errors.Join(errs...)
}

// Load parses args (flags only, no positional arguments) with a flag set of
// its own and returns the resolved options; see Loader.Options. Parse
// errors, -h included, are returned as the flag package reports them.
func Load(args []string, lookupEnv func(string) (string, bool)) (Options, error) {
	fs := flag.NewFlagSet("etaxd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := Bind(fs)
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return l.Options(lookupEnv)
}

// PrintUsage writes the options as a table: flag, environment variable,
// default and meaning.
func PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "  --config FILE\n        JSON config file (env %s)\n", EnvConfigFile)
	for _, f := range Fields() {
		def := f.Default()
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s %s\n        %s\n        env %s, file key %q, default %s\n", f.Flag, f.Meta, f.Help, f.Env, f.Key, def)
	}
}

// flagValue records a flag's text; Options applies it after the file and
// the environment so that flags win.
type flagValue struct {
	s      string
	def    string
	set    bool
	isBool bool
}

func (v *flagValue) String() string {
	if v == nil {
		return ""
	}
	if v.set {
		return v.s
	}
	return v.def
}

func (v *flagValue) Set(s string) error {
	v.s, v.set = s, true
	return nil
}

func (v *flagValue) IsBoolFlag() bool { return v.isBool }

func applyFile(o *Options, path string) []error {
	src := "file " + path
	f, err := os.Open(path)
	if err != nil {
		return []error{&SourceError{Source: src, Err: err}}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return []error{&SourceError{Source: src, Err: err}}
	}
	if len(b) > maxFileSize {
		return []error{&SourceError{Source: src, Err: fmt.Errorf("larger than %d bytes", maxFileSize)}}
	}
	return applyObject(o, "", b, src)
}

func applyObject(o *Options, prefix string, raw []byte, src string) []error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		if err == nil {
			err = errors.New("null")
		}
		return []error{&SourceError{Source: src, Key: strings.TrimSuffix(prefix, "."), Err: fmt.Errorf("must be a JSON object: %v", err)}}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		full := prefix + k
		if f, ok := fieldByKey(full); ok {
			if err := setJSON(f.ptr(o), m[k]); err != nil {
				errs = append(errs, &SourceError{Source: src, Key: full, Err: err})
			}
			continue
		}
		if isGroup(full) {
			errs = append(errs, applyObject(o, full+".", m[k], src)...)
			continue
		}
		errs = append(errs, &SourceError{Source: src, Key: full, Err: errors.New("unknown key")})
	}
	return errs
}

// setString parses s, as written in the environment or a flag, into the
// option at p.
func setString(p any, s string) error {
	switch p := p.(type) {
	case *string:
		*p = s
	case *bool:
		v, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		*p = v
	case *int:
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
		*p = v
	case *time.Duration:
		v, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want a duration such as 90s, 5m or 3h, got %q", s)
		}
		*p = v
	case *[]string:
		var out []string
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		*p = out
	default:
		panic(fmt.Sprintf("config: no parser for %T", p))
	}
	return nil
}

// setJSON decodes raw, a value of the config file, into the option at p.
// Durations are strings ("5m"); lists are arrays of strings or numbers.
func setJSON(p any, raw json.RawMessage) error {
	switch p := p.(type) {
	case *string:
		if err := json.Unmarshal(raw, p); err != nil {
			return fmt.Errorf("want a string, got %s", raw)
		}
	case *bool:
		if err := json.Unmarshal(raw, p); err != nil {
			return fmt.Errorf("want true or false, got %s", raw)
		}
	case *int:
		if err := json.Unmarshal(raw, p); err != nil {
			return fmt.Errorf("want a whole number, got %s", raw)
		}
	case *time.Duration:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("want a duration string such as \"5m\", got %s", raw)
		}
		return setString(p, s)
	case *[]string:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fmt.Errorf("want an array, got %s", raw)
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			var s string
			var n json.Number
			switch {
			case json.Unmarshal(it, &s) == nil:
				out = append(out, strings.TrimSpace(s))
			case json.Unmarshal(it, &n) == nil:
				out = append(out, n.String())
			default:
				return fmt.Errorf("want an array of strings, got %s", raw)
			}
		}
		*p = out
	default:
		panic(fmt.Sprintf("config: no decoder for %T", p))
	}
	return nil
}

func formatValue(p any) string {
	switch p := p.(type) {
	case *string:
		return *p
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *time.Duration:
		return formatDuration(*p)
	case *[]string:
		return strings.Join(*p, ",")
	}
	panic(fmt.Sprintf("config: no formatter for %T", p))
}

// formatDuration writes d as time.Duration does, without zero trailing
// units: 3m, 3h, 1h30m, 90s stays 1m30s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
