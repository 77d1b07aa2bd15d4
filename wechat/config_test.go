package wechat

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	plain := testConfig()
	plain.EncodingAESKey = ""
	if err := plain.Validate(); err != nil {
		t.Errorf("plain mode: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"app id", func(c *Config) { c.AppID = "" }, "app id"},
		{"secret", func(c *Config) { c.AppSecret = "" }, "app secret"},
		{"token short", func(c *Config) { c.Token = "ab" }, "token"},
		{"token symbols", func(c *Config) { c.Token = "abc-def" }, "token"},
		{"aes key", func(c *Config) { c.EncodingAESKey = "short" }, "AES"},
		{"template", func(c *Config) { c.TemplateID = "" }, "template"},
		{"url scheme", func(c *Config) { c.PublicURL = "etaxd.example.com" }, "public url"},
		{"url query", func(c *Config) { c.PublicURL = "https://etaxd.example.com/?x=1" }, "public url"},
	} {
		c := testConfig()
		tc.mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
	// Every problem at once.
	err := Config{Token: "x"}.Validate()
	if n := strings.Count(err.Error(), "\n") + 1; n != 5 {
		t.Errorf("empty config: %d problems, want 5:\n%v", n, err)
	}
	if _, err := New(Config{}, Options{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(empty) = %v", err)
	}
}

func TestTokenCache(t *testing.T) {
	now := testStart
	c := newTokenCache(func() time.Time { return now })
	_ = c.Set("k", "v1", time.Minute)
	if c.Get("k") != "v1" || !c.IsExist("k") {
		t.Fatal("value not stored")
	}
	if c.compareAndDelete("k", "other") || c.Get("k") != "v1" {
		t.Error("compareAndDelete removed another value")
	}
	if !c.compareAndDelete("k", "v1") || c.Get("k") != nil {
		t.Error("compareAndDelete kept its value")
	}
	_ = c.Set("k", "v2", time.Minute)
	now = now.Add(time.Minute)
	if c.Get("k") != nil {
		t.Error("expired value returned")
	}
	_ = c.Set("k", "v3", -time.Second)
	if c.IsExist("k") {
		t.Error("negative timeout stored a value")
	}
}

func TestBoundedMap(t *testing.T) {
	now := testStart
	m := newBoundedMap[string, int](time.Minute, 3)
	for i, k := range []string{"a", "b", "c", "d"} {
		m.put(k, i, now)
	}
	if _, ok := m.get("a", now); ok || m.len() != 3 {
		t.Errorf("oldest entry kept past max (len %d)", m.len())
	}
	if v, ok := m.get("d", now); !ok || v != 3 {
		t.Errorf("get(d) = %d, %v", v, ok)
	}
	if m.putIfAbsent("d", 9, now) {
		t.Error("putIfAbsent replaced a live entry")
	}
	now = now.Add(time.Minute)
	if _, ok := m.get("d", now); ok {
		t.Error("expired entry returned")
	}
	if !m.putIfAbsent("d", 9, now) || m.len() != 1 {
		t.Errorf("expired entries not purged: len %d", m.len())
	}
	// Replacing one key many times keeps the bookkeeping bounded.
	for i := range 1000 {
		m.put("x", i, now)
		m.remove("d")
	}
	if len(m.order) > 2*m.len()+64 {
		t.Errorf("order holds %d keys for %d entries", len(m.order), m.len())
	}
}
