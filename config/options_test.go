package config

import (
	"bytes"
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
		{"dev default", func(*Options) {}, true},
		{"off", func(o *Options) { o.Sim.TestEndpoints = false }, false},
		{"production", func(o *Options) { o.Dev = false }, false},
		{"gateway", func(o *Options) { o.TaxBureau.URL = "http://bureau:8081" }, false},
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
		opToken  = "operator-secret-0123456789"
		gwToken  = "gateway-secret-0123456789"
		natsPass = "nats-secret-pass"
		wxSecret = "wechat-app-secret-0123456789"
		wxAES    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	)
	o := Default()
	o.WeChat = WeChatOptions{AppID: "wx0123456789abcdef", AppSecret: wxSecret, Token: "wxtoken123", EncodingAESKey: wxAES, TemplateID: "tpl"}
	o.OperatorToken = opToken
	o.TaxBureau.URL = "http://bureau:8081"
	o.TaxBureau.Token = gwToken
	o.NATS.URLs = []string{"nats://etaxd:" + natsPass + "@n1:4222", "nats://n2:4222"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("options", "opts", o)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("options", "opts", o)
	printed := fmt.Sprintf("%v %+v %#v %s", o, o, o, o) + logs.String()
	for _, s := range []string{opToken, gwToken, natsPass, wxSecret, wxAES} {
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
	err := o.Validate()
	keys := problemKeys(t, err)
	if strings.Join(keys, ",") != "operator_token,nats.urls,taxbureau.token" {
		t.Fatalf("problems %v: %v", keys, err)
	}
	for _, s := range []string{opToken, gwToken, natsPass} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("a problem quotes a secret: %v", err)
		}
	}
}
