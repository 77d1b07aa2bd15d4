package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestLocalAndBaseURL(t *testing.T) {
	tests := []struct {
		listen, public string
		local, base    string
	}{
		{listen: "127.0.0.1:8080", local: "http://127.0.0.1:8080", base: "http://127.0.0.1:8080"},
		{listen: ":8080", local: "http://127.0.0.1:8080", base: "http://127.0.0.1:8080"},
		{listen: "0.0.0.0:9000", local: "http://127.0.0.1:9000", base: "http://127.0.0.1:9000"},
		{listen: "[::]:9000", local: "http://[::1]:9000", base: "http://[::1]:9000"},
		{listen: "[::1]:9000", local: "http://[::1]:9000", base: "http://[::1]:9000"},
		{listen: "10.0.0.5:80", local: "http://10.0.0.5:80", base: "http://10.0.0.5:80"},
		{listen: "127.0.0.1:8080", public: "https://etaxd.example.com/", local: "http://127.0.0.1:8080", base: "https://etaxd.example.com"},
		{listen: "127.0.0.1:8080", public: "https://example.com/etaxd", local: "http://127.0.0.1:8080", base: "https://example.com/etaxd"},
	}
	for _, tt := range tests {
		t.Run(tt.listen+" "+tt.public, func(t *testing.T) {
			o := Default()
			o.Listen, o.PublicURL = tt.listen, tt.public
			if got := o.LocalURL(); got != tt.local {
				t.Errorf("LocalURL() = %q, want %q", got, tt.local)
			}
			if got := o.BaseURL(); got != tt.base {
				t.Errorf("BaseURL() = %q, want %q", got, tt.base)
			}
		})
	}
}

func TestSimTestEndpoints(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Options)
		want   bool
	}{
		{"production default", func(*Options) {}, false},
		{"dev", func(o *Options) { o.Dev = true }, true},
		{"dev, simulator named", func(o *Options) { o.Dev = true; o.TaxBureau.URL = SimURL }, true},
		{"dev, off", func(o *Options) { o.Dev = true; o.Sim.TestEndpoints = false }, false},
		{"production, simulator named", func(o *Options) { o.TaxBureau.URL = SimURL }, false},
		{"dev, gateway", func(o *Options) { o.Dev = true; o.TaxBureau.URL = "http://bureau:8081" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Default()
			tt.mutate(&o)
			if got := o.SimTestEndpoints(); got != tt.want {
				t.Errorf("SimTestEndpoints() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNewOptionsFromEveryKindOfSource reads the new options from the file,
// the environment and the flags.
func TestNewOptionsFromEveryKindOfSource(t *testing.T) {
	cleanEnv(t)
	file := writeFile(t, "etaxd.json", `{
		"public_url": "https://etaxd.example.com",
		"nats": {"urls": ["nats://n1:4222", "nats://n2:4222"], "sync_always": false, "replicas": 3},
		"taxbureau": {"url": "http://bureau:8081"},
		"sim": {"test_endpoints": false}
	}`)
	t.Setenv("ETAXD_OPERATOR_TOKEN", "operator-token-0123456789")
	t.Setenv("ETAXD_TAXBUREAU_TOKEN", "bureau-token-0123456789")
	o, err := Load([]string{"--config", file, "--nats-replicas", "5"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"public_url: file", o.PublicURL, "https://etaxd.example.com"},
		{"operator_token: env", o.OperatorToken, "operator-token-0123456789"},
		{"nats.urls: file", strings.Join(o.NATS.URLs, ","), "nats://n1:4222,nats://n2:4222"},
		{"nats.embedded", o.NATS.Embedded(), false},
		{"nats.sync_always: file", o.NATS.SyncAlways, false},
		{"nats.replicas: flag", o.NATS.Replicas, 5},
		{"taxbureau.url: file", o.TaxBureau.URL, "http://bureau:8081"},
		{"taxbureau.token: env", o.TaxBureau.Token, "bureau-token-0123456789"},
		{"sim.test_endpoints: file", o.Sim.TestEndpoints, false},
		{"engine public URL", o.EngineConfig().PublicURL, "https://etaxd.example.com"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestSecretsAreNeverPrinted: the tokens and NATS credentials appear
// neither in the printed or logged options nor in a validation problem.
func TestSecretsAreNeverPrinted(t *testing.T) {
	const (
		opToken   = "operator-secret-0123456789"
		gwToken   = "gateway-secret-0123456789"
		natsPass  = "nats-secret-pass"
		natsPass2 = "nats-secret-password-2"
		wxSecret  = "wechat-app-secret-0123456789"
		wxAES     = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	)
	o := Default()
	o.WeChat = WeChatOptions{AppID: "wx0123456789abcdef", AppSecret: wxSecret, Token: "wxtoken123", EncodingAESKey: wxAES, TemplateID: "tpl"}
	o.OperatorToken = opToken
	o.TaxBureau.URL = "http://bureau:8081"
	o.TaxBureau.Token = gwToken
	o.NATS.URLs = []string{"nats://etaxd:" + natsPass + "@n1:4222", "nats://n2:4222"}
	o.NATS.Password = natsPass2
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("options", "opts", o)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("options", "opts", o)
	printed := fmt.Sprintf("%v %+v %#v %s", o, o, o, o) + logs.String()
	for _, s := range []string{opToken, gwToken, natsPass, natsPass2, wxSecret, wxAES} {
		if strings.Contains(printed, s) {
			t.Errorf("a secret was printed: %q in\n%s", s, printed)
		}
	}
	if !strings.Contains(printed, "nats://n2:4222") || !strings.Contains(printed, redacted) {
		t.Errorf("the printed options lost what is not secret:\n%s", printed)
	}
	if o.OperatorToken != opToken || !strings.Contains(o.NATS.URLs[0], natsPass) {
		t.Error("printing changed the options")
	}

	// Invalid secrets are reported without their text.
	o.OperatorToken = "bad token " + opToken
	o.TaxBureau.Token = "bad token " + gwToken
	o.NATS.URLs = []string{"http://etaxd:" + natsPass + "@n1:4222"}
	o.NATS.Password = natsPass2 + "\x00"
	err := o.Validate()
	keys := problemKeys(t, err)
	if strings.Join(keys, ",") != "operator_token,nats.urls,nats.user,nats.password,nats.user,taxbureau.token" {
		t.Fatalf("problems %v: %v", keys, err)
	}
	for _, s := range []string{opToken, gwToken, natsPass, natsPass2} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("a problem quotes a secret: %v", err)
		}
	}
}

// TestValidateServe: dev mode stays on loopback, and production names its
// tax bureau (a gateway, or the simulator on purpose).
func TestValidateServe(t *testing.T) {
	gateway := func(o *Options) { o.TaxBureau.URL = "https://gw.example.com" }
	tests := []struct {
		name   string
		mutate func(*Options)
		keys   []string // the problems' keys, in order; none: accepted
	}{
		{"dev on loopback", func(o *Options) { o.Dev = true }, nil},
		{"dev on localhost and ::1", func(o *Options) {
			o.Dev, o.Listen, o.NATS.Listen, o.NATS.Token = true, "localhost:8080", "[::1]:4222", "nats-token-0123456789"
		}, nil},
		{"dev on every interface", func(o *Options) { o.Dev, o.Listen = true, ":8080" }, []string{"listen"}},
		{"dev on 0.0.0.0", func(o *Options) { o.Dev, o.Listen = true, "0.0.0.0:8080" }, []string{"listen"}},
		{"dev on a LAN address", func(o *Options) { o.Dev, o.Listen = true, "192.168.1.20:8080" }, []string{"listen"}},
		{"dev with NATS on the network", func(o *Options) {
			o.Dev, o.NATS.Listen, o.NATS.Token = true, "0.0.0.0:4222", "nats-token-0123456789"
		}, []string{"nats.listen"}},
		{"dev with a gateway", func(o *Options) { o.Dev = true; gateway(o) }, nil},
		{"production without a gateway", func(*Options) {}, []string{"taxbureau.url"}},
		{"production with the simulator named", func(o *Options) { o.TaxBureau.URL = SimURL }, nil},
		{"production with a gateway, on every interface", func(o *Options) { gateway(o); o.Listen = ":8080" }, nil},
		{"production, NATS on the network", func(o *Options) {
			gateway(o)
			o.NATS.Listen, o.NATS.Token = "0.0.0.0:4222", "nats-token-0123456789"
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Default()
			tt.mutate(&o)
			if err := o.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			var keys []string
			for _, p := range Problems(o.ValidateServe()) {
				var fe *FieldError
				if !errors.As(p, &fe) {
					t.Fatalf("problem %v is not a *FieldError", p)
				}
				keys = append(keys, fe.Key)
				if fe.Key == "listen" || fe.Key == "nats.listen" {
					for _, want := range []string{"loopback", "--dev=false", "docs/SECURITY.md"} {
						if !strings.Contains(fe.Error(), want) {
							t.Errorf("problem %q does not say %q", fe.Error(), want)
						}
					}
				}
				if fe.Key == "taxbureau.url" && !strings.Contains(fe.Error(), SimURL) {
					t.Errorf("problem %q does not offer %s", fe.Error(), SimURL)
				}
			}
			if strings.Join(keys, ",") != strings.Join(tt.keys, ",") {
				t.Errorf("ValidateServe() problems on %v, want %v", keys, tt.keys)
			}
		})
	}
}

// TestSimURL: taxbureau.url=sim: is the in-process simulator, chosen on
// purpose; it takes no token, like the empty URL.
func TestSimURL(t *testing.T) {
	o := Default()
	o.TaxBureau.URL = SimURL
	if !o.TaxBureau.InProcess() || !o.TaxBureau.SimChosen() {
		t.Errorf("sim: is not the in-process simulator chosen on purpose: InProcess %v, SimChosen %v", o.TaxBureau.InProcess(), o.TaxBureau.SimChosen())
	}
	if err := o.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	o.TaxBureau.Token = "0123456789abcdef"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "taxbureau.token") {
		t.Errorf("a token with sim: = %v", err)
	}
	if d := Default(); d.TaxBureau.SimChosen() {
		t.Error("the empty URL counts as the simulator chosen on purpose")
	}
	o, err := Load([]string{"--taxbureau-url", "sim:", "--webhooks-allow-private"}, func(string) (string, bool) { return "", false })
	if err != nil || !o.TaxBureau.InProcess() || !o.Webhooks.AllowPrivate {
		t.Errorf("Load(sim:, --webhooks-allow-private) = %+v, %v", o, err)
	}
	o, err = Load(nil, func(k string) (string, bool) { return "true", k == "ETAXD_WEBHOOKS_ALLOW_PRIVATE" })
	if err != nil || !o.Webhooks.AllowPrivate {
		t.Errorf("ETAXD_WEBHOOKS_ALLOW_PRIVATE=true: %v, %v", o.Webhooks.AllowPrivate, err)
	}
}
