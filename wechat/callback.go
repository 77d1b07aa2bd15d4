package wechat

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"
)

// SentPrompt names the prompt a template message carried.
type SentPrompt struct {
	Tenant, Account, ID string
}

// Hooks are what the Callback tells etaxd. Each may be nil. They run on the
// request's goroutine while WeChat waits for the answer (5 s, then it
// retries, and the retry is answered without calling them again): hand the
// work to an actor and return. A hook that panics is logged, answered with 500 and
// forgotten by the dedupe, so WeChat's retry calls it again.
type Hooks struct {
	// OnSubscribe is called when openid follows the account.
	OnSubscribe func(openid string)
	// OnUnsubscribe is called when openid unfollows it: template messages
	// to openid now fail with 43004, so its prompts fall back to browser
	// links and the tenant should be told.
	OnUnsubscribe func(openid string)
	// OnTemplateFinished is called when WeChat reports the fate of a
	// template message: status is "success", "failed:user block" or
	// "failed: system failed". p is the prompt the message carried, zero
	// when this process did not send it (another instance, a restart).
	OnTemplateFinished func(msgID int64, status string, p SentPrompt)
}

// Callback is the http.Handler of the account's 服务器配置 URL
// (/wx/callback). Get it from Client.Callback; it is safe for concurrent
// use.
type Callback struct {
	c     *Client
	hooks Hooks
	log   *slog.Logger
	seen  *boundedMap[string, struct{}]
	// signed maps the signature, timestamp and nonce of each request that
	// got through to the handler to a hash of its (decrypted) body.
	signed *boundedMap[string, [sha256.Size]byte]

	nAccepted, nDuplicates, nForbidden, nStale, nMalformed, nReplayed atomic.Uint64
}

// Callback returns a handler for /wx/callback calling hooks. GET answers
// WeChat's URL verification (the echostr); POST takes messages and events.
// With Config.EncodingAESKey set (安全模式 or 兼容模式 in the console) a POST
// must be encrypted and signed (encrypt_type=aes, msg_signature): the plain
// signature covers only timestamp and nonce, so whoever saw one request
// could sign any plaintext body with it. Without the key (明文模式) POSTs
// are plaintext, and a signature, timestamp and nonce stay bound to the
// first body they came with for the window: the same body again is
// WeChat's retry, another body a replay.
//
// Answers: 200 "success" (also for a retry, a duplicate or a message etaxd
// ignores); 403 for a bad or missing signature, a plaintext POST in safe
// mode, a replay, or a timestamp outside Options.CallbackWindow; 400 for a
// request that cannot be parsed or decrypted (a bad msg_signature
// included) and for an encrypted POST in plain mode; 405 for other
// methods.
func (c *Client) Callback(hooks Hooks) *Callback {
	// Retries come within seconds; remember messages and signatures for
	// the whole window on both sides, beyond which the timestamp check
	// refuses them anyway.
	return &Callback{
		c:      c,
		hooks:  hooks,
		log:    c.log.With("handler", "callback"),
		seen:   newBoundedMap[string, struct{}](2*c.opts.CallbackWindow, c.opts.MaxRemembered),
		signed: newBoundedMap[string, [sha256.Size]byte](2*c.opts.CallbackWindow, c.opts.MaxRemembered),
	}
}

// CallbackStats are a Callback's counters since it was built.
type CallbackStats struct {
	Accepted   uint64 `json:"accepted"`   // messages and events handled
	Duplicates uint64 `json:"duplicates"` // WeChat's retries, dropped
	Forbidden  uint64 `json:"forbidden"`  // bad or missing signatures, plaintext in safe mode
	Stale      uint64 `json:"stale"`      // timestamps outside the window
	Malformed  uint64 `json:"malformed"`  // unparsable or undecryptable bodies
	Replayed   uint64 `json:"replayed"`   // signatures seen before on another body
}

// Stats returns the counters.
func (cb *Callback) Stats() CallbackStats {
	return CallbackStats{
		Accepted: cb.nAccepted.Load(), Duplicates: cb.nDuplicates.Load(), Forbidden: cb.nForbidden.Load(),
		Stale: cb.nStale.Load(), Malformed: cb.nMalformed.Load(), Replayed: cb.nReplayed.Load(),
	}
}

// ServeHTTP handles one request from WeChat.
func (cb *Callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	tw := &trackingWriter{ResponseWriter: w}
	srv := cb.c.oa.GetServer(r, tw)
	// The SDK's check, made before Serve, which would log through logrus.
	if !srv.Validate() {
		cb.nForbidden.Add(1)
		cb.log.Warn("callback signature refused", "remote", r.RemoteAddr)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		cb.nMalformed.Add(1)
		http.Error(w, "bad timestamp", http.StatusBadRequest)
		return
	}
	if d := cb.c.now().Sub(time.Unix(ts, 0)); d > cb.c.opts.CallbackWindow || d < -cb.c.opts.CallbackWindow {
		cb.nStale.Add(1)
		cb.log.Warn("callback timestamp outside the window", "skew", d.Round(time.Second), "remote", r.RemoteAddr)
		http.Error(w, "stale timestamp", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodGet && !q.Has("echostr") {
		cb.nMalformed.Add(1)
		http.Error(w, "no echostr", http.StatusBadRequest)
		return
	}
	// The SDK takes a POST as plaintext unless encrypt_type says "aes",
	// whatever the account's mode: the mode is ours to enforce. (WeChat
	// verifies the URL with a plain GET in every mode.)
	safe := cb.c.cfg.EncodingAESKey != ""
	encrypted := q.Get("encrypt_type") == "aes"
	key := "plain:" + q.Get("signature")
	if safe {
		key = "aes:" + q.Get("msg_signature")
	}
	key += ":" + q.Get("timestamp") + ":" + q.Get("nonce")
	if r.Method == http.MethodPost {
		switch {
		case safe && (!encrypted || q.Get("msg_signature") == ""):
			cb.nForbidden.Add(1)
			cb.log.Warn("callback refused: not encrypted in safe mode", "remote", r.RemoteAddr)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		case !safe && encrypted:
			cb.nMalformed.Add(1)
			cb.log.Warn("callback refused: encrypted, but no EncodingAESKey is configured", "remote", r.RemoteAddr)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, cb.c.opts.MaxCallbackBody)
	var panicked, replay bool
	srv.SetMessageHandler(func(m *message.MixMessage) *message.Reply {
		// The SDK calls this only once the signatures (msg_signature over
		// the encrypted body in safe mode) are checked and the body parsed:
		// a garbled request cannot claim a signature before WeChat's own.
		sum := sha256.Sum256(srv.RequestRawXMLMsg)
		if first, loaded := cb.signed.loadOrStore(key, sum, cb.c.now()); loaded && first != sum {
			replay = true
			tw.hold = true
			return nil
		}
		panicked = cb.handle(m)
		// Keep Serve's "success" from reaching WeChat: the 500 below
		// makes it retry.
		tw.hold = panicked
		return nil
	})
	if err := srv.Serve(); err != nil {
		cb.nMalformed.Add(1)
		cb.log.Warn("callback refused", "err", err, "remote", r.RemoteAddr)
		if !tw.wrote {
			http.Error(w, "bad request", http.StatusBadRequest)
		}
		return
	}
	if replay {
		cb.nReplayed.Add(1)
		cb.log.Warn("callback refused: signature replayed with another body", "remote", r.RemoteAddr)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if panicked {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// Plain mode: Serve answered "success". Safe mode: it wrote nothing
	// (Send would encrypt an empty reply); WeChat wants a plain "success".
	if !tw.wrote {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("success"))
	}
}

// handle dedupes m and calls its hook; it reports whether the hook
// panicked.
func (cb *Callback) handle(m *message.MixMessage) (panicked bool) {
	key := dedupeKey(m)
	if !cb.seen.putIfAbsent(key, struct{}{}, cb.c.now()) {
		cb.nDuplicates.Add(1)
		return false
	}
	cb.nAccepted.Add(1)
	defer func() {
		if v := recover(); v != nil {
			cb.seen.remove(key)
			cb.log.Error("callback hook panicked", "event", m.Event, "panic", fmt.Sprint(v))
			panicked = true
		}
	}()
	if m.MsgType != message.MsgTypeEvent {
		return false // users' own messages: nothing to do, no auto-reply
	}
	openid := string(m.FromUserName)
	switch m.Event {
	case message.EventSubscribe:
		if cb.hooks.OnSubscribe != nil {
			cb.hooks.OnSubscribe(openid)
		}
	case message.EventUnsubscribe:
		if cb.hooks.OnUnsubscribe != nil {
			cb.hooks.OnUnsubscribe(openid)
		}
	case message.EventTemplateSendJobFinish:
		sent, _ := cb.c.msgPrompt.get(m.TemplateMsgID, cb.c.now())
		cb.log.Info("template message finished", "msgid", m.TemplateMsgID, "status", m.Status, "prompt", sent.ID)
		if cb.hooks.OnTemplateFinished != nil {
			cb.hooks.OnTemplateFinished(m.TemplateMsgID, m.Status, sent)
		}
	}
	return false
}

// dedupeKey identifies m across WeChat's retries: MsgId for messages, the
// template's MsgID for its finish event, else sender, creation time and
// event, as WeChat's documentation advises.
func dedupeKey(m *message.MixMessage) string {
	switch {
	case m.MsgID != 0:
		return "msg:" + strconv.FormatInt(m.MsgID, 10)
	case m.Event == message.EventTemplateSendJobFinish && m.TemplateMsgID != 0:
		return "tpl:" + strconv.FormatInt(m.TemplateMsgID, 10)
	default:
		return "ev:" + string(m.FromUserName) + ":" + strconv.FormatInt(m.CreateTime, 10) + ":" + string(m.Event)
	}
}

// trackingWriter records whether anything was written; while hold is set
// it discards writes.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
	hold  bool
}

func (w *trackingWriter) WriteHeader(code int) {
	if w.hold {
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	if w.hold {
		return len(b), nil
	}
	w.wrote = true
	return w.ResponseWriter.Write(b)
}
