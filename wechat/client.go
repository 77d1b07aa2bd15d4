package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/officialaccount"
	oaconfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/oauth"
	"github.com/silenceper/wechat/v2/util"

	"github.com/etaxd/etaxd/prompts"
)

// apiBase is WeChat's API host; every call goes through util.DefaultHTTPClient.
const apiBase = "https://api.weixin.qq.com"

// maxResponse bounds the body read from a WeChat API answer.
const maxResponse = 1 << 20

// Client is one official account: the SDK's client with our token cache,
// its service getters (fetched once), and the prompt notifier. Build it
// with New; it is safe for concurrent use.
type Client struct {
	cfg      Config
	opts     Options
	log      *slog.Logger
	oa       *officialaccount.OfficialAccount
	oauth    *oauth.Oauth
	cache    *tokenCache
	tokenKey string
	// msgPrompt maps template msgids to the prompts they carried, for
	// TEMPLATESENDJOBFINISH events.
	msgPrompt *boundedMap[int64, SentPrompt]
	notifier  *Notifier
}

// New validates cfg and builds the client. It makes no network call: the
// first token is fetched by the first send (or by Ping).
func New(cfg Config, opts Options) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	opts.setDefaults()
	c := &Client{
		cfg:   cfg,
		opts:  opts,
		log:   opts.Logger.With("component", "wechat"),
		cache: newTokenCache(opts.Clock.Now),
		// The key the SDK's StableAccessToken stores the token under.
		tokenKey:  fmt.Sprintf("%s_stable_access_token_%s", credential.CacheKeyOfficialAccountPrefix, cfg.AppID),
		msgPrompt: newBoundedMap[int64, SentPrompt](opts.SentTTL, opts.MaxRemembered),
	}
	c.oa = officialaccount.NewOfficialAccount(&oaconfig.Config{
		AppID:          cfg.AppID,
		AppSecret:      cfg.AppSecret,
		Token:          cfg.Token,
		EncodingAESKey: cfg.EncodingAESKey,
		Cache:          c.cache,
		// The stable token is not invalidated when another service asks
		// for one: several etaxd instances may share the account.
		UseStableAK: true,
	})
	// The getters build services lazily and race on first concurrent use:
	// fetch them here, once.
	c.oauth = c.oa.GetOauth()
	c.notifier = newNotifier(c)
	return c, nil
}

// Notifier returns the client's prompt notifier.
func (c *Client) Notifier() *Notifier { return c.notifier }

// ServiceName returns Config.ServiceName.
func (c *Client) ServiceName() string { return c.cfg.ServiceName }

// PromptURL returns the prompt page of p, the link of its template message:
// /h5/prompt/{tenant}/{account}/{prompt}. The page signs the person in with
// OAuth2 and shows the prompt only to whoever may operate the account.
func (c *Client) PromptURL(p prompts.Prompt) string {
	return c.cfg.PublicURL + "/h5/prompt/" + url.PathEscape(p.Tenant) + "/" + url.PathEscape(p.Account) + "/" + url.PathEscape(p.PageID())
}

// Ping fetches an access token (from the cache if it has one): a start-up
// check of AppID, AppSecret and the IP whitelist (40164).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.accessToken(ctx)
	return err
}

// accessToken returns the cached stable token, fetching one if needed.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	tok, err := c.oa.GetAccessTokenContext(ctx)
	if err != nil {
		return "", fmt.Errorf("wechat: access token: %w", redact(err))
	}
	return tok, nil
}

// dropToken removes tok from the cache if it is still the cached token,
// and reports whether it did. A stable token asked for again without
// force_refresh is the one WeChat currently holds valid.
func (c *Client) dropToken(tok string) bool {
	return c.cache.compareAndDelete(c.tokenKey, tok)
}

// withToken calls call with an access token; when WeChat rejects the token
// it drops it and calls once more with a fresh one.
func (c *Client) withToken(ctx context.Context, call func(tok string) error) (refreshed bool, err error) {
	for attempt := 0; ; attempt++ {
		tok, terr := c.accessToken(ctx)
		if terr != nil {
			return refreshed, terr
		}
		err = call(tok)
		var ae *APIError
		if attempt == 0 && errors.As(err, &ae) && ae.TokenRejected() {
			if c.dropToken(tok) {
				c.log.Info("access token rejected, dropped", "errcode", ae.Code)
			}
			refreshed = true
			continue
		}
		return refreshed, err
	}
}

// apiResult is the common part of WeChat's JSON answers.
type apiResult struct {
	ErrCode int64  `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
	MsgID   int64  `json:"msgid"`
}

// postJSON posts body to apiBase+path?access_token=tok and decodes the
// answer; a non-zero errcode is an *APIError. Errors never carry tok.
func (c *Client) postJSON(ctx context.Context, api, path, tok string, body any) (apiResult, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the URL's & stays readable to WeChat
	if err := enc.Encode(body); err != nil {
		return apiResult{}, fmt.Errorf("wechat: %s: encode: %w", api, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiBase+path+"?access_token="+url.QueryEscape(tok), &buf)
	if err != nil {
		return apiResult{}, fmt.Errorf("wechat: %s: %w", api, redact(err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := util.DefaultHTTPClient.Do(req)
	if err != nil {
		return apiResult{}, fmt.Errorf("wechat: %s: %w", api, redact(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return apiResult{}, fmt.Errorf("wechat: %s: read: %w", api, redact(err))
	}
	if resp.StatusCode != http.StatusOK {
		return apiResult{}, fmt.Errorf("wechat: %s: %w %d", api, ErrHTTPStatus, resp.StatusCode)
	}
	var res apiResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return apiResult{}, fmt.Errorf("wechat: %s: decode answer: %w", api, err)
	}
	if res.ErrCode != 0 {
		return res, &APIError{API: api, Code: res.ErrCode, Msg: res.ErrMsg}
	}
	return res, nil
}

// AuthCodeURL returns the snsapi_base OAuth2 URL that sends WeChat's
// browser back to redirectURI with a code and state. The caller puts a
// CSRF nonce in state and checks it on return; redirectURI's host must be
// the account's 网页授权域名.
func (c *Client) AuthCodeURL(redirectURI, state string) string {
	u, _ := c.oauth.GetRedirectURL(redirectURI, "snsapi_base", url.QueryEscape(state))
	return u
}

// OpenIDFromCode exchanges an OAuth2 code (valid once, 5 minutes) for the
// user's openid. It never asks for user info: snsapi_base grants none.
// Errors are *APIError (40029: invalid code) or transport errors, redacted.
func (c *Client) OpenIDFromCode(ctx context.Context, code string) (string, error) {
	res, err := c.oauth.GetUserAccessTokenContext(ctx, code)
	if err != nil {
		if res.ErrCode != 0 {
			return "", &APIError{API: "oauth2 access_token", Code: res.ErrCode, Msg: res.ErrMsg}
		}
		return "", fmt.Errorf("wechat: oauth2 access_token: %w", redact(err))
	}
	if res.OpenID == "" {
		return "", fmt.Errorf("wechat: oauth2 access_token: answer without openid")
	}
	return res.OpenID, nil
}

// now returns the client's time.
func (c *Client) now() time.Time { return c.opts.Clock.Now() }
