package wechat

import (
	"log/slog"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/prompts"
)

const (
	testAppID  = "wx0123456789abcdef"
	testSecret = "s3cr3t-app-secret-0123456789abcd"
	testToken  = "callbackToken42"
	// testAESKey is 43 base64 characters decoding to 32 bytes.
	testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

var testStart = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

func testConfig() Config {
	return Config{
		AppID: testAppID, AppSecret: testSecret, Token: testToken, EncodingAESKey: testAESKey,
		TemplateID: "tpl-login-prompt", PublicURL: "https://etaxd.example.com/", ServiceName: "税务助手",
	}
}

// testEnv is a Client on a fake clock whose log goes to a buffer.
type testEnv struct {
	c     *Client
	clock *clock.Fake
	logs  *testutil.SyncBuffer
}

func newTestClient(t *testing.T, mutate func(*Options)) testEnv {
	t.Helper()
	return newTestClientConfig(t, testConfig(), mutate)
}

// newPlainTestClient is newTestClient for an account in plain mode (明文模式:
// no EncodingAESKey).
func newPlainTestClient(t *testing.T) testEnv {
	t.Helper()
	cfg := testConfig()
	cfg.EncodingAESKey = ""
	return newTestClientConfig(t, cfg, nil)
}

// newTestClientMode is newTestClient in safe mode (aes) or in plain mode.
func newTestClientMode(t *testing.T, aes bool) testEnv {
	t.Helper()
	if aes {
		return newTestClient(t, nil)
	}
	return newPlainTestClient(t)
}

func newTestClientConfig(t *testing.T, cfg Config, mutate func(*Options)) testEnv {
	t.Helper()
	env := testEnv{clock: clock.NewFake(testStart), logs: &testutil.SyncBuffer{}}
	opts := Options{Clock: env.clock, Logger: slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mutate != nil {
		mutate(&opts)
	}
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	env.c = c
	return env
}

func testPrompt(id string) prompts.Prompt {
	return prompts.Prompt{
		ID: id, Tenant: "t1", Account: "a1", Kind: prompts.KindSMSCode, OpenID: "o-user-1",
		PhoneMasked: "138****5678", TaxNo: "91310000MA1FL0AB1C", Username: "张会计",
		Message: "请输入短信验证码", CreatedAt: testStart, ExpiresAt: testStart.Add(5 * time.Minute),
	}
}
