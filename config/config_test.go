package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/taxbureau"
)

// cleanEnv blanks every variable the loader reads, so a developer's own
// ETAXD_* settings cannot change a test (an empty value counts as unset).
func cleanEnv(t *testing.T) {
	t.Helper()
	t.Setenv(EnvConfigFile, "")
	for _, f := range Fields() {
		t.Setenv(f.Env, "")
	}
}

// problemKeys returns the file keys named by the problems in err.
func problemKeys(t *testing.T, err error) []string {
	t.Helper()
	var keys []string
	for _, p := range Problems(err) {
		var fe *FieldError
		var se *SourceError
		switch {
		case errors.As(p, &fe):
			keys = append(keys, fe.Key)
		case errors.As(p, &se):
			keys = append(keys, se.Key)
		default:
			t.Fatalf("problem %v (%T) is neither a FieldError nor a SourceError", p, p)
		}
	}
	return keys
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultIsValid(t *testing.T) {
	o := Default()
	if err := o.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"DataDir", o.DataDir, "./data"},
		{"Listen", o.Listen, "127.0.0.1:8080"},
		{"Dev", o.Dev, false},
		{"KeyPath", o.KeyPath(), filepath.Join("data", "master.keys")},
		{"KeysEnv", o.KeysEnv, "ETAXD_MASTER_KEYS"},
		{"Demo", o.Demo, false},
		{"LogLevel", o.LogLevel, "info"},
		{"LogFormat", o.LogFormat, "text"},
		{"ServiceName", o.ServiceName, "发票云"},
		{"MaxWrongPassword", o.Lock.MaxWrongPassword, 1},
		{"MaxWrongCode", o.Lock.MaxWrongCode, 2},
		{"MaxCodeTimeouts", o.Lock.MaxCodeTimeouts, 3},
		{"PerPhonePerDay", o.SMS.PerPhonePerDay, 20},
		{"PerAccountInterval", o.SMS.PerAccountInterval, 3 * time.Minute},
		{"CodeTTL", o.CodeTTL, 5 * time.Minute},
		{"IdleTimeout", o.IdleTimeout, 10 * time.Minute},
		{"GatewayTimeout", o.GatewayTimeout, 30 * time.Second},
		{"Sim.SessionLength", o.Sim.SessionLength, 3 * time.Hour},
		{"Sim.QRValidity", o.Sim.QRValidity, 120 * time.Second},
		{"Sim.CertValidity", o.Sim.CertValidity, 24 * time.Hour},
		{"Sim.NoSMSRegions", strings.Join(o.Sim.NoSMSRegions, ","), "44,33,12,42"},
		{"PublicURL", o.PublicURL, ""},
		{"BaseURL", o.BaseURL(), "http://127.0.0.1:8080"},
		{"OperatorToken", o.OperatorToken, ""},
		{"NATS.URLs", len(o.NATS.URLs), 0},
		{"NATS.Embedded", o.NATS.Embedded(), true},
		{"NATS.Listen", o.NATS.Listen, ""},
		{"NATS.SyncAlways", o.NATS.SyncAlways, true},
		{"NATS.Replicas", o.NATS.Replicas, 1},
		{"NATSStoreDir", o.NATSStoreDir(), filepath.Join("data", "nats")},
		{"TaxBureau.URL", o.TaxBureau.URL, ""},
		{"TaxBureau.InProcess", o.TaxBureau.InProcess(), true},
		{"TaxBureau.Token", o.TaxBureau.Token, ""},
		{"Sim.TestEndpoints", o.Sim.TestEndpoints, true},
		{"SimTestEndpoints", o.SimTestEndpoints(), false},
		{"DevInbox", o.DevInbox(), false},
		{"Webhooks.AllowPrivate", o.Webhooks.AllowPrivate, false},
		{"Store.KeepReadPages", o.Store.KeepReadPages, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestValidateReportsEachField(t *testing.T) {
	tests := []struct {
		key    string
		mutate func(*Options)
	}{
		{"data_dir", func(o *Options) { o.DataDir = "  " }},
		{"listen", func(o *Options) { o.Listen = "localhost" }},
		{"listen", func(o *Options) { o.Listen = "" }},
		{"listen", func(o *Options) { o.Listen = "127.0.0.1:http" }},
		{"listen", func(o *Options) { o.Listen = "127.0.0.1:70000" }},
		{"key_file", func(o *Options) { o.KeyFile = " keys" }},
		{"keys_env", func(o *Options) { o.KeysEnv = "" }},
		{"keys_env", func(o *Options) { o.KeysEnv = "1KEYS" }},
		{"keys_env", func(o *Options) { o.KeysEnv = "MY-KEYS" }},
		{"log_level", func(o *Options) { o.LogLevel = "verbose" }},
		{"log_format", func(o *Options) { o.LogFormat = "xml" }},
		{"service_name", func(o *Options) { o.ServiceName = "" }},
		{"service_name", func(o *Options) { o.ServiceName = strings.Repeat("云", 33) }},
		{"node_name", func(o *Options) { o.NodeName = "node one" }},
		{"lock.max_wrong_password", func(o *Options) { o.Lock.MaxWrongPassword = 0 }},
		{"lock.max_wrong_code", func(o *Options) { o.Lock.MaxWrongCode = -1 }},
		{"lock.max_code_timeouts", func(o *Options) { o.Lock.MaxCodeTimeouts = 0 }},
		{"sms.per_phone_per_day", func(o *Options) { o.SMS.PerPhonePerDay = 0 }},
		{"sms.per_account_interval", func(o *Options) { o.SMS.PerAccountInterval = -time.Second }},
		{"code_ttl", func(o *Options) { o.CodeTTL = 0 }},
		{"idle_timeout", func(o *Options) { o.IdleTimeout = -time.Minute }},
		{"gateway_timeout", func(o *Options) { o.GatewayTimeout = 0 }},
		{"pwguard.max_wrong", func(o *Options) { o.PasswordGuard.MaxWrong = 0 }},
		{"pwguard.max_wrong", func(o *Options) { o.PasswordGuard.MaxWrong = 5 }},
		{"pwguard.window", func(o *Options) { o.PasswordGuard.Window = 12 * time.Hour }},
		{"pwguard.per_openid", func(o *Options) { o.PasswordPerOpenID = 0 }},
		{"activation.per_address", func(o *Options) { o.Activation.PerAddress = 0 }},
		{"activation.total", func(o *Options) { o.Activation.Total = -1 }},
		{"sim.session_length", func(o *Options) { o.Sim.SessionLength = 0 }},
		{"sim.qr_validity", func(o *Options) { o.Sim.QRValidity = 0 }},
		{"sim.cert_validity", func(o *Options) { o.Sim.CertValidity = -time.Hour }},
		{"sim.no_sms_regions", func(o *Options) { o.Sim.NoSMSRegions = []string{"44", "99"} }},
		{"sim.no_sms_regions", func(o *Options) { o.Sim.NoSMSRegions = []string{"44", "44"} }},
		{"public_url", func(o *Options) { o.PublicURL = "etaxd.example.com" }},
		{"public_url", func(o *Options) { o.PublicURL = "ftp://etaxd.example.com" }},
		{"public_url", func(o *Options) { o.PublicURL = "https://etaxd.example.com/?x=1" }},
		{"public_url", func(o *Options) { o.PublicURL = "https://user:pw@etaxd.example.com" }},
		// etaxd serves from the root of its host: a path prefix would send
		// the H5 redirects and cookies to the wrong paths.
		{"public_url", func(o *Options) { o.PublicURL = "https://etaxd.example.com/etaxd" }},
		{"public_url", func(o *Options) { o.PublicURL = "http://host:8080/etaxd/" }},
		{"operator_token", func(o *Options) { o.OperatorToken = "short" }},
		{"operator_token", func(o *Options) { o.OperatorToken = "a token with spaces in it" }},
		{"nats.urls", func(o *Options) { o.NATS.URLs = []string{"nats://a:4222", "http://b:4222"} }},
		{"nats.urls", func(o *Options) { o.NATS.URLs = []string{"localhost:4222"} }},
		{"nats.listen", func(o *Options) { o.NATS.Listen = "4222" }},
		{"nats.listen", func(o *Options) { o.NATS.URLs = []string{"nats://a:4222"}; o.NATS.Listen = "127.0.0.1:4222" }},
		{"nats.token", func(o *Options) { o.NATS.Listen = "127.0.0.1:4222" }},
		{"nats.token", func(o *Options) { o.NATS.Token = "nats-token-0123456789" }},
		{"wechat.app_secret", func(o *Options) {
			o.WeChat = WeChatOptions{AppID: "wx0123456789abcdef", Token: "wxtoken123", TemplateID: "tpl"}
		}},
		{"wechat.app_id", func(o *Options) { o.WeChat.AppSecret = "secret-without-an-app" }},
		{"nats.replicas", func(o *Options) { o.NATS.Replicas = 0 }},
		{"nats.replicas", func(o *Options) { o.NATS.URLs = []string{"nats://a:4222"}; o.NATS.Replicas = 7 }},
		{"nats.replicas", func(o *Options) { o.NATS.Replicas = 3 }},                  // embedded: a single node
		{"cluster.listen", func(o *Options) { o.Cluster.Listen = "127.0.0.1:6222" }}, // no peers
		{"cluster.listen", func(o *Options) {
			o.TaxBureau.URL = "http://bureau:8081"
			o.Cluster.Peers = []string{"a:6222", "b:6222", "c:6222"}
		}},
		{"taxbureau.url", func(o *Options) { // cluster mode on the in-process simulator
			o.Cluster = ClusterOptions{Listen: "127.0.0.1:6222", Peers: []string{"a:6222", "b:6222"}}
		}},
		{"cluster.listen", func(o *Options) {
			o.TaxBureau.URL = "http://bureau:8081"
			o.Cluster = ClusterOptions{Listen: "127.0.0.1:0", Peers: []string{"a:6222", "b:6222", "c:6222"}}
		}},
		{"cluster.peers", func(o *Options) {
			o.TaxBureau.URL = "http://bureau:8081"
			o.Cluster = ClusterOptions{Listen: "127.0.0.1:6222", Peers: []string{"a:6222", "6222", "c:6222"}}
		}},
		{"cluster.peers", func(o *Options) {
			o.TaxBureau.URL = "http://bureau:8081"
			o.Cluster = ClusterOptions{Listen: "127.0.0.1:6222", Peers: []string{"a:6222", "a:6222", "c:6222"}}
		}},
		{"cluster.peers", func(o *Options) { // 2 nodes cannot hold 3 replicas
			o.TaxBureau.URL = "http://bureau:8081"
			o.Cluster = ClusterOptions{Listen: "127.0.0.1:6222", Peers: []string{"127.0.0.1:6222", "b:6222"}}
		}},
		{"cluster.actor_listen", func(o *Options) { // external NATS: the actor address is cluster.listen
			o.NATS.URLs = []string{"nats://a:4222"}
			o.TaxBureau.URL = "http://bureau:8081"
			o.Cluster = ClusterOptions{Listen: "127.0.0.1:6222", Peers: []string{"a:6222", "b:6222"}, ActorListen: "127.0.0.1:7000"}
		}},
		{"cluster.listen", func(o *Options) { // external NATS: still a fixed address of its own
			o.NATS.URLs = []string{"nats://a:4222"}
			o.TaxBureau.URL = "http://bureau:8081"
			o.Cluster = ClusterOptions{Peers: []string{"a:6222", "b:6222"}}
		}},
		{"nats.user", func(o *Options) { o.NATS.User = "etaxd" }}, // no URLs
		{"nats.password", func(o *Options) { o.NATS.Password = "pass" }},
		{"nats.creds_file", func(o *Options) { o.NATS.CredsFile = "/etc/etaxd/nats.creds" }},
		{"nats.tls_ca_file", func(o *Options) { o.NATS.TLSCAFile = "/etc/etaxd/ca.pem" }},
		{"nats.tls_cert_file", func(o *Options) { o.NATS.TLSCertFile = "/etc/etaxd/c.pem" }},
		{"nats.tls_key_file", func(o *Options) { o.NATS.TLSKeyFile = "/etc/etaxd/k.pem" }},
		{"nats.password", func(o *Options) { o.NATS.URLs = []string{"nats://a:4222"}; o.NATS.User = "etaxd" }},
		{"nats.user", func(o *Options) { o.NATS.URLs = []string{"nats://a:4222"}; o.NATS.Password = "pass" }},
		{"nats.user", func(o *Options) {
			o.NATS.URLs = []string{"nats://a:4222"}
			o.NATS.User, o.NATS.Password = "et axd", "p"
		}},
		{"nats.password", func(o *Options) {
			o.NATS.URLs = []string{"nats://a:4222"}
			o.NATS.User, o.NATS.Password = "etaxd", "p\n"
		}},
		{"nats.token", func(o *Options) { o.NATS.URLs = []string{"nats://a:4222"}; o.NATS.Token = "tok en" }},
		{"nats.user", func(o *Options) { // two kinds of credentials
			o.NATS.URLs = []string{"nats://a:4222"}
			o.NATS.User, o.NATS.Password, o.NATS.Token = "etaxd", "pass", "token"
		}},
		{"nats.token", func(o *Options) { o.NATS.URLs = []string{"nats://u:p@a:4222"}; o.NATS.Token = "token" }},
		{"nats.creds_file", func(o *Options) { o.NATS.URLs = []string{"nats://u:p@a:4222"}; o.NATS.CredsFile = "x.creds" }},
		{"nats.tls_key_file", func(o *Options) { o.NATS.URLs = []string{"tls://a:4222"}; o.NATS.TLSCertFile = "c.pem" }},
		{"nats.tls_cert_file", func(o *Options) { o.NATS.URLs = []string{"tls://a:4222"}; o.NATS.TLSKeyFile = "k.pem" }},
		{"nats.tls_ca_file", func(o *Options) { o.NATS.URLs = []string{"tls://a:4222"}; o.NATS.TLSCAFile = "ca.pem " }},
		{"cluster.actor_listen", func(o *Options) { o.Cluster.ActorListen = "127.0.0.1:7000" }}, // no peers
		{"cluster.actor_listen", func(o *Options) {
			o.TaxBureau.URL = "http://bureau:8081"
			o.Cluster = ClusterOptions{Listen: "127.0.0.1:6222", Peers: []string{"a:6222", "b:6222"}, ActorListen: "7000"}
		}},
		{"taxbureau.url", func(o *Options) { o.TaxBureau.URL = "bureau:8081" }},
		{"taxbureau.url", func(o *Options) { o.TaxBureau.URL = "http://bureau:8081#x" }},
		{"taxbureau.token", func(o *Options) { o.TaxBureau.Token = "0123456789abcdef" }}, // no URL
		{"taxbureau.token", func(o *Options) { o.TaxBureau.URL = "http://bureau:8081"; o.TaxBureau.Token = "short" }},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			o := Default()
			tt.mutate(&o)
			err := o.Validate()
			got := problemKeys(t, err)
			if !slices.Equal(got, []string{tt.key}) {
				t.Fatalf("Validate() problems %v (%v), want exactly [%s]", got, err, tt.key)
			}
			if f, _ := fieldByKey(tt.key); !strings.Contains(err.Error(), f.Env) || !strings.Contains(err.Error(), "--"+f.Flag) {
				t.Errorf("message %q does not name %s and --%s", err, f.Env, f.Flag)
			}
		})
	}
}

func TestValidateAcceptsEdgeValues(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Options)
	}{
		{"any port", func(o *Options) { o.Listen = "127.0.0.1:0" }},
		{"all interfaces", func(o *Options) { o.Listen = ":8080" }},
		{"ipv6", func(o *Options) { o.Listen = "[::1]:8080" }},
		{"upper-case level", func(o *Options) { o.LogLevel = "DEBUG" }},
		{"cert per invoice", func(o *Options) { o.Sim.CertValidity = 0 }},
		{"no interval", func(o *Options) { o.SMS.PerAccountInterval = 0 }},
		{"no region skips SMS", func(o *Options) { o.Sim.NoSMSRegions = nil }},
		{"planned city", func(o *Options) { o.Sim.NoSMSRegions = []string{"4403"} }},
		{"production", func(o *Options) { o.Dev = false; o.KeyFile = "/etc/etaxd/master.keys" }},
		{"public url with a trailing slash", func(o *Options) { o.PublicURL = "https://etaxd.example.com/" }},
		{"operator token", func(o *Options) { o.OperatorToken = "0123456789abcdef" }},
		{"nats cluster", func(o *Options) {
			o.NATS.URLs = []string{"nats://u:p@n1:4222", "tls://n2:4222", "wss://n3:443"}
			o.NATS.Replicas = 3
			o.NATS.SyncAlways = false
		}},
		{"nats client port", func(o *Options) { o.NATS.Listen, o.NATS.Token = "127.0.0.1:4222", "nats-token-0123456789" }},
		{"nats client port in cluster mode", func(o *Options) { // ERPs on a node's embedded server, restricted
			o.TaxBureau.URL = "http://bureau:8081"
			o.NATS.Listen, o.NATS.Token = "127.0.0.1:4222", "nats-token-0123456789"
			o.Cluster = ClusterOptions{Listen: "127.0.0.1:6222", Peers: []string{"a:6222", "b:6222"}}
		}},
		{"gateway", func(o *Options) {
			o.TaxBureau.URL = "https://bureau.example.com/gw"
			o.TaxBureau.Token = "0123456789abcdef"
		}},
		{"no sim test endpoints", func(o *Options) { o.Sim.TestEndpoints = false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Default()
			tt.mutate(&o)
			if err := o.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblemTogether(t *testing.T) {
	o := Default()
	o.Listen = "nowhere"
	o.LogLevel = "loud"
	o.Lock.MaxWrongCode = 0
	o.CodeTTL = 0
	o.Sim.NoSMSRegions = []string{"00"}
	want := []string{"listen", "log_level", "lock.max_wrong_code", "code_ttl", "sim.no_sms_regions"}
	err := o.Validate()
	if got := problemKeys(t, err); !slices.Equal(got, want) {
		t.Fatalf("problems %v, want %v\n%v", got, want, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
		t.Errorf("error text has %d lines, want one per problem:\n%v", n, err)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "etaxd.json", `{"data_dir": "/from/file", "log_level": "warn"}`)
	tests := []struct {
		name  string
		file  bool
		env   string
		flags []string
		want  string
	}{
		{name: "default", want: "./data"},
		{name: "file", file: true, want: "/from/file"},
		{name: "env", env: "/from/env", want: "/from/env"},
		{name: "env over file", file: true, env: "/from/env", want: "/from/env"},
		{name: "flag", flags: []string{"--data", "/from/flag"}, want: "/from/flag"},
		{name: "flag over env and file", file: true, env: "/from/env", flags: []string{"--data=/from/flag"}, want: "/from/flag"},
		{name: "flag over file", file: true, flags: []string{"-data", "/from/flag"}, want: "/from/flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			args := tt.flags
			if tt.file {
				args = append([]string{"--config", file}, args...)
			}
			t.Setenv("ETAXD_DATA", tt.env)
			o, err := Load(args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if o.DataDir != tt.want {
				t.Errorf("DataDir = %q, want %q", o.DataDir, tt.want)
			}
			if o.KeyPath() != filepath.Join(tt.want, "master.keys") {
				t.Errorf("KeyPath = %q, want it under %q", o.KeyPath(), tt.want)
			}
			wantLevel := "info"
			if tt.file {
				wantLevel = "warn" // keys the later sources do not set keep the file's value
			}
			if o.LogLevel != wantLevel {
				t.Errorf("LogLevel = %q, want %q", o.LogLevel, wantLevel)
			}
		})
	}
}

func TestPrecedenceEveryKind(t *testing.T) {
	cleanEnv(t)
	file := writeFile(t, "etaxd.json", `{
		"dev": false, "listen": "127.0.0.1:1", "code_ttl": "1m",
		"lock": {"max_wrong_code": 5},
		"sim": {"no_sms_regions": [44, "33"], "qr_validity": "30s"}
	}`)
	t.Setenv(EnvConfigFile, file)
	t.Setenv("ETAXD_LISTEN", "127.0.0.1:2")
	t.Setenv("ETAXD_LOCK_MAX_WRONG_CODE", "6")
	t.Setenv("ETAXD_SIM_NO_SMS_REGIONS", "12, 42")
	t.Setenv("ETAXD_DEV", "true")
	o, err := Load([]string{"--listen=127.0.0.1:3", "--dev=false", "--sim-qr-validity", "45s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.ConfigFile != file {
		t.Errorf("ConfigFile = %q, want %q (from %s)", o.ConfigFile, file, EnvConfigFile)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen: flag", o.Listen, "127.0.0.1:3"},
		{"dev: flag over env over file", o.Dev, false},
		{"code_ttl: file", o.CodeTTL, time.Minute},
		{"lock.max_wrong_code: env", o.Lock.MaxWrongCode, 6},
		{"lock.max_wrong_password: default", o.Lock.MaxWrongPassword, 1},
		{"sim.no_sms_regions: env", strings.Join(o.Sim.NoSMSRegions, ","), "12,42"},
		{"sim.qr_validity: flag", o.Sim.QRValidity, 45 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestEmptyEnvIsUnset(t *testing.T) {
	cleanEnv(t)
	t.Setenv("ETAXD_LISTEN", "")
	o, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != "127.0.0.1:8080" {
		t.Errorf("Listen = %q, want the default", o.Listen)
	}
}

func TestLoadReportsEveryProblemTogether(t *testing.T) {
	cleanEnv(t)
	file := writeFile(t, "bad.json", `{"listen": 8080, "colour": "blue", "sim": {"qr_validity": 120, "warp": 1}, "code_ttl": "0s"}`)
	t.Setenv("ETAXD_IDLE_TIMEOUT", "forever")
	t.Setenv("ETAXD_LOG_FORMAT", "xml")
	o, err := Load([]string{"--config", file, "--dev=maybe", "--lock-max-wrong-password", "0"}, nil)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	want := []string{
		"colour", "listen", "sim.qr_validity", "sim.warp", // the file, in key order
		"idle_timeout",                                      // the environment
		"dev",                                               // the flags
		"log_format", "lock.max_wrong_password", "code_ttl", // Validate ("0s" parses, but is not > 0)
	}
	if got := problemKeys(t, err); !slices.Equal(got, want) {
		t.Fatalf("problems %v, want %v\n%v", got, want, err)
	}
	if o.Listen != "127.0.0.1:8080" {
		t.Errorf("an unreadable value changed the option: Listen = %q", o.Listen)
	}
	for _, s := range []string{"file " + file, "env ETAXD_IDLE_TIMEOUT", "flag --dev", "unknown key"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not mention %q:\n%v", s, err)
		}
	}
}

func TestLoadFileProblems(t *testing.T) {
	tests := []struct {
		name, body string
	}{
		{"not json", `listen = "x"`},
		{"not an object", `[1, 2]`},
		{"null", `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			file := writeFile(t, "c.json", tt.body)
			_, err := Load([]string{"--config", file}, nil)
			var se *SourceError
			if !errors.As(err, &se) || se.Source != "file "+file {
				t.Fatalf("Load = %v, want a SourceError for the file", err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		cleanEnv(t)
		_, err := Load([]string{"--config", filepath.Join(t.TempDir(), "none.json")}, nil)
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Load = %v, want os.ErrNotExist", err)
		}
	})
	t.Run("wrong kind in a group", func(t *testing.T) {
		cleanEnv(t)
		file := writeFile(t, "c.json", `{"sim": "fast"}`)
		_, err := Load([]string{"--config", file}, nil)
		if got := problemKeys(t, err); !slices.Equal(got, []string{"sim"}) {
			t.Fatalf("problems %v, want [sim]: %v", got, err)
		}
	})
}

func TestLoadRejectsArguments(t *testing.T) {
	cleanEnv(t)
	if _, err := Load([]string{"extra"}, nil); err == nil {
		t.Error("Load accepted a positional argument")
	}
	if _, err := Load([]string{"--no-such-flag"}, nil); err == nil {
		t.Error("Load accepted an unknown flag")
	}
	if _, err := Load([]string{"-h"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("Load(-h) = %v, want flag.ErrHelp", err)
	}
}

func TestBindLetsSubcommandsAddFlags(t *testing.T) {
	cleanEnv(t)
	fs := flag.NewFlagSet("torture", flag.ContinueOnError)
	l := Bind(fs)
	n := fs.Int("n", 1, "changes")
	if err := fs.Parse([]string{"--data", "/x", "--n", "7"}); err != nil {
		t.Fatal(err)
	}
	o, err := l.Options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.DataDir != "/x" || *n != 7 {
		t.Errorf("DataDir %q n %d, want /x and 7", o.DataDir, *n)
	}
}

func TestLookupEnvIsInjectable(t *testing.T) {
	env := map[string]string{"ETAXD_LISTEN": "127.0.0.1:9"}
	o, err := Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != "127.0.0.1:9" {
		t.Errorf("Listen = %q", o.Listen)
	}
}

func TestFieldsAreConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Fields() {
		for _, name := range []string{"key " + f.Key, "env " + f.Env, "flag " + f.Flag} {
			if seen[name] {
				t.Errorf("%s is used twice", name)
			}
			seen[name] = true
		}
		if !strings.HasPrefix(f.Env, "ETAXD_") {
			t.Errorf("%s: env %s lacks the ETAXD_ prefix", f.Key, f.Env)
		}
		if f.Help == "" || f.Meta == "" {
			t.Errorf("%s has no help or meta", f.Key)
		}
		// Every default reads back through the environment unchanged.
		o := Default()
		if err := setString(f.ptr(&o), f.Default()); err != nil {
			t.Errorf("%s: default %q does not parse: %v", f.Key, f.Default(), err)
		}
		if formatValue(f.ptr(&o)) != f.Default() {
			t.Errorf("%s: default does not round-trip", f.Key)
		}
	}
}

// TestReadmeDocumentsEveryOption keeps the README's config table in step
// with the code.
func TestReadmeDocumentsEveryOption(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, f := range Fields() {
		for _, s := range []string{"`" + f.Key + "`", "`" + f.Env + "`", "`--" + f.Flag + "`"} {
			if !strings.Contains(readme, s) {
				t.Errorf("README.md does not mention %s", s)
			}
		}
	}
	if !strings.Contains(readme, EnvConfigFile) {
		t.Errorf("README.md does not mention %s", EnvConfigFile)
	}
}

func TestEngineConfig(t *testing.T) {
	o := Default()
	o.Lock.MaxWrongCode = 4
	o.SMS.PerPhonePerDay = 7
	o.CodeTTL = 2 * time.Minute
	o.IdleTimeout = time.Minute
	o.GatewayTimeout = 5 * time.Second
	o.ServiceName = "测试号"
	c := o.EngineConfig()
	if c.LockPolicy != o.Lock || c.SMSPolicy != o.SMS || c.CodeTTL != o.CodeTTL || c.IdleTimeout != o.IdleTimeout ||
		c.GatewayTimeout != o.GatewayTimeout || c.ServiceName != o.ServiceName {
		t.Errorf("EngineConfig() = %+v does not carry the options %+v", c, o)
	}
	if c.PublicURL != "http://127.0.0.1:8080" {
		t.Errorf("EngineConfig().PublicURL = %q, want http://<listen>", c.PublicURL)
	}
	o.PublicURL = "https://etaxd.example.com/"
	if c := o.EngineConfig(); c.PublicURL != "https://etaxd.example.com" {
		t.Errorf("EngineConfig().PublicURL = %q, want the public URL without its trailing slash", c.PublicURL)
	}
	if c.AskTimeout <= 0 || c.StoreTimeout <= 0 || c.HostedCodeTimeout <= 0 {
		t.Errorf("EngineConfig() lost the engine's own defaults: %+v", c)
	}
}

// TestEngineConfigLoginLinksOnly: only production without an official
// account has no notifier a person reads, so only there does every prompt
// become a login link.
func TestEngineConfigLoginLinksOnly(t *testing.T) {
	for _, tt := range []struct {
		dev, wechat bool
		want        bool
	}{{false, false, true}, {false, true, false}, {true, false, false}, {true, true, false}} {
		o := Default()
		o.Dev = tt.dev
		if tt.wechat {
			o.WeChat.AppID = "wx123"
		}
		if got := o.EngineConfig().LoginLinksOnly; got != tt.want {
			t.Errorf("dev=%v wechat=%v: LoginLinksOnly = %v, want %v", tt.dev, tt.wechat, got, tt.want)
		}
	}
}

func TestSimConfig(t *testing.T) {
	o := Default()
	o.Sim.SessionLength = time.Hour
	o.Sim.QRValidity = time.Minute
	o.Sim.CertValidity = 0
	o.Sim.NoSMSRegions = []string{"4403"}
	c := o.SimConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SessionLength != time.Hour || c.QRValidity != time.Minute || c.CertValidity != 0 || !slices.Equal(c.NoSMSRegions, []string{"4403"}) {
		t.Errorf("SimConfig() = %+v", c)
	}
	c.NoSMSRegions[0] = "11"
	if o.Sim.NoSMSRegions[0] != "4403" {
		t.Error("SimConfig shares NoSMSRegions with the options")
	}
	d := Default().SimConfig()
	ref := taxbureau.DefaultSimConfig()
	if d.CodeLength != ref.CodeLength || d.MaxWrongPasswords != ref.MaxWrongPasswords || !slices.Equal(d.NoSMSRegions, ref.NoSMSRegions) {
		t.Errorf("Default().SimConfig() = %+v, want DefaultSimConfig %+v", d, ref)
	}
}

func TestSlogLevelAndNode(t *testing.T) {
	o := Default()
	for _, l := range []string{"debug", "info", "warn", "error"} {
		o.LogLevel = l
		if got := strings.ToLower(o.SlogLevel().String()); got != l {
			t.Errorf("SlogLevel(%s) = %s", l, got)
		}
	}
	o.NodeName = "n1"
	if o.Node() != "n1" {
		t.Errorf("Node() = %q", o.Node())
	}
	o.NodeName = ""
	if o.Node() == "" {
		t.Error("Node() is empty without a name")
	}
}

func TestPrintUsageListsEveryFlag(t *testing.T) {
	var b strings.Builder
	PrintUsage(&b)
	for _, f := range Fields() {
		if !strings.Contains(b.String(), "--"+f.Flag+" ") || !strings.Contains(b.String(), f.Env) {
			t.Errorf("usage lacks --%s or %s", f.Flag, f.Env)
		}
	}
}

// TestValidateRefusesAPublicURLPath checks that a public_url with a path
// prefix is refused with a message that says why and what to do instead.
func TestValidateRefusesAPublicURLPath(t *testing.T) {
	o := Default()
	o.PublicURL = "http://host/etaxd"
	err := o.Validate()
	if err == nil {
		t.Fatal("Validate() accepted public_url http://host/etaxd")
	}
	for _, want := range []string{"public_url", `"/etaxd"`, "path", "root"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}

// TestClusterOptions pins cluster mode's derived values: on only with
// peers, the own address left out of the routes, and at least three
// replicas (the default 1 meaning 3).
func TestClusterOptions(t *testing.T) {
	o := Default()
	if o.Cluster.Enabled() || o.StreamReplicas() != 1 {
		t.Fatalf("default: cluster %v, replicas %d; want a single node with 1", o.Cluster.Enabled(), o.StreamReplicas())
	}
	o.Cluster = ClusterOptions{Listen: "127.0.0.1:6222", Peers: []string{"127.0.0.1:6222", "127.0.0.1:6223", "127.0.0.1:6224"}}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "taxbureau.url") {
		t.Fatalf("cluster mode on the in-process simulator: %v", err)
	}
	o.TaxBureau.URL = "http://127.0.0.1:8081"
	if err := o.Validate(); err != nil {
		t.Fatalf("three nodes on loopback: %v", err)
	}
	if !o.Cluster.Enabled() || o.StreamReplicas() != 3 {
		t.Fatalf("cluster %v, replicas %d; want cluster mode with 3", o.Cluster.Enabled(), o.StreamReplicas())
	}
	if got := o.Cluster.Routes(); !slices.Equal(got, []string{"127.0.0.1:6223", "127.0.0.1:6224"}) {
		t.Fatalf("Routes() = %v, want the two other nodes", got)
	}
	o.NATS.Replicas = 5
	if err := o.Validate(); err == nil {
		t.Fatal("5 replicas on 3 nodes: no error")
	}
	o.Cluster.Peers = append(o.Cluster.Peers, "127.0.0.1:6225", "127.0.0.1:6226")
	if err := o.Validate(); err != nil || o.StreamReplicas() != 5 {
		t.Fatalf("5 replicas on 5 nodes: %v, replicas %d", err, o.StreamReplicas())
	}
}

// TestClusterOnExternalNATS: cluster mode with nats.urls is valid with
// its credentials and TLS files, on any number of etaxd nodes (the NATS
// cluster holds the replicas), still with 3 replicas by default.
func TestClusterOnExternalNATS(t *testing.T) {
	o := Default()
	o.TaxBureau.URL = "http://127.0.0.1:8081"
	o.NATS.URLs = []string{"tls://n1:4222", "tls://n2:4222", "tls://n3:4222"}
	o.NATS.User, o.NATS.Password = "etaxd", "a password with spaces"
	o.NATS.TLSCAFile, o.NATS.TLSCertFile, o.NATS.TLSKeyFile = "/etc/etaxd/ca.pem", "/etc/etaxd/c.pem", "/etc/etaxd/k.pem"
	o.Cluster = ClusterOptions{Listen: "10.0.0.11:6223", Peers: []string{"10.0.0.11:6223", "10.0.0.12:6223"}}
	if err := o.Validate(); err != nil {
		t.Fatalf("two nodes on an external NATS cluster: %v", err)
	}
	if o.StreamReplicas() != 3 {
		t.Fatalf("replicas %d, want 3 in cluster mode", o.StreamReplicas())
	}
	o.Cluster.ActorListen = o.Cluster.Listen // the same address is what it means anyway
	if err := o.Validate(); err != nil {
		t.Fatalf("actor_listen = listen: %v", err)
	}
	o.NATS.User, o.NATS.Password, o.NATS.Token = "", "", "t"
	if err := o.Validate(); err != nil {
		t.Fatalf("a token: %v", err)
	}
	o.NATS.Token, o.NATS.CredsFile = "", "/etc/etaxd/nats.creds"
	if err := o.Validate(); err != nil {
		t.Fatalf("a creds file: %v", err)
	}
	o.NATS.CredsFile, o.NATS.URLs = "", []string{"nats://etaxd:pass@n1:4222"}
	if err := o.Validate(); err != nil {
		t.Fatalf("user info in the URL: %v", err)
	}
}
