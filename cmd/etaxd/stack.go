package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/cluster/membership"
	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/events"
	httpapi "github.com/etaxd/etaxd/http"
	"github.com/etaxd/etaxd/http/h5"
	"github.com/etaxd/etaxd/http/opsapi"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/natsbus"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
	"github.com/etaxd/etaxd/wechat"
)

// stack is etaxd's core as one process runs it: the bbolt store, the
// master keys, the tax bureau (the in-process simulator, or an HTTP gateway
// when taxbureau.url is set), NATS (embedded JetStream, or external
// servers), the prompt queue with its dev-inbox notifier, the client
// events and webhooks, and the actor engine. serve and the durability
// tests' torture build the same stack, so those tests exercise what serve
// runs.
type stack struct {
	opts config.Options
	log  *slog.Logger
	// clock is the one clock of the stack: the store, the simulator, the
	// engine, WeChat and the HTTP and H5 handlers all read it.
	clock clock.Clock
	// store is the state: bolt on a single node, the cluster's JetStream
	// KV bucket in cluster mode (bolt is then nil).
	store persistence.Store
	bolt  *persistence.Bolt
	keys  *persistence.Keyring
	// members is cluster mode's membership; nil on a single node.
	members *membership.Provider
	// activeSub answers the other nodes' question for this node's tenants.
	activeSub *nats.Subscription
	// nonces and idempotency are the client API's shared nonces and
	// idempotency answers in cluster mode (nil: in memory).
	nonces      *natsbus.NonceLog
	idempotency *natsbus.SharedKV

	// sim and sms are set with the in-process simulator; client otherwise.
	sim    *taxbureau.Simulator
	sms    *taxbureau.SimSMSProvider
	client *taxbureau.Client
	gw     *taxbureau.Instrumented // either, counted for /metrics

	bus      *natsbus.Bus
	queue    *prompts.Queue
	events   *events.EventStream
	hooks    *events.Webhooks
	inbox    *prompts.Inbox
	wechat   *wechat.Client // set when wechat.app_id is
	consumer *prompts.Consumer
	engine   *actors.Engine
}

// newLogger returns the process logger: text or json on w at the options'
// level.
func newLogger(o config.Options, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.SlogLevel()}
	if strings.EqualFold(o.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// openStack builds the stack from validated options. On error everything
// opened so far is closed again.
func openStack(o config.Options, log *slog.Logger) (_ *stack, err error) {
	s := &stack{opts: o, log: log, clock: clock.Real{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	s.keys, err = persistence.LoadKeyring(keyringOptions(o, log))
	if errors.Is(err, persistence.ErrNoKeys) {
		return nil, fmt.Errorf("load master keys: %w; put them in %s or a key file (--key-file), or run with --dev to create one", err, o.KeysEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("load master keys: %w", err)
	}

	if o.Cluster.Enabled() {
		// The routed NATS first: the store is on it.
		if err := s.openClusterStore(); err != nil {
			return nil, err
		}
	} else {
		s.bolt, err = persistence.OpenBolt(o.DBPath(), persistence.BoltOptions{Clock: s.clock, KeepReadPages: o.Store.KeepReadPages})
		if err != nil {
			if errors.Is(err, persistence.ErrLocked) {
				return nil, fmt.Errorf("open store: %w (is another etaxd using %s?)", err, o.DataDir)
			}
			return nil, fmt.Errorf("open store: %w", err)
		}
		s.store = persistence.Timed(s.bolt) // measured for /metrics (storelatency.go)
		// As a cluster node does: keys that cannot open this store's
		// data (another key file, a store restored from elsewhere) stop
		// the start here, with a clear message, not at the first secret.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = persistence.CheckKeys(ctx, s.store, s.keys)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: these master keys (%s or the key file) are not the ones this store was sealed with", err, o.KeysEnv)
		}
	}

	var sms taxbureau.SMSProvider
	if o.TaxBureau.InProcess() {
		sc := o.SimConfig()
		if err := sc.Validate(); err != nil {
			return nil, fmt.Errorf("simulator configuration: %w", err)
		}
		s.sim = taxbureau.NewSimulator(sc, s.clock)
		if err := keepSimPersons(s.sim, o.SimPersonsPath()); err != nil {
			return nil, err
		}
		s.sms = taxbureau.NewSimSMSProvider(s.sim)
		s.gw, sms = taxbureau.Instrument(s.sim), s.sms
	} else {
		s.client, err = taxbureau.NewClient(o.TaxBureau.URL, taxbureau.ClientOptions{Token: o.TaxBureau.Token})
		if err != nil {
			return nil, fmt.Errorf("tax bureau client: %w", err)
		}
		s.gw, sms = taxbureau.Instrument(s.client), s.client
	}

	switch {
	case o.Cluster.Enabled(): // started with the store
	case o.NATS.Embedded():
		s.bus, err = natsbus.StartEmbedded(natsbus.EmbeddedOptions{StoreDir: o.NATSStoreDir(), RelaxedSync: !o.NATS.SyncAlways,
			Listen: o.NATS.Listen, Token: o.NATS.Token, Replicas: o.NATS.Replicas, ServerName: o.Node(), Logger: log.With("component", "nats")})
	default:
		s.bus, err = natsbus.Connect(o.NATS.URLs, externalNATSOptions(o, log))
	}
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.queue, err = prompts.NewQueue(ctx, s.bus, prompts.QueueOptions{Logger: log.With("component", "prompts")}); err != nil {
		return nil, fmt.Errorf("prompt queue: %w", err)
	}
	if s.events, err = events.NewEventStream(ctx, s.bus, events.EventStreamOptions{Logger: log.With("component", "events")}); err != nil {
		return nil, fmt.Errorf("event stream: %w", err)
	}

	var cd *actors.ClusterDeps
	if o.Cluster.Enabled() {
		if cd, err = s.clusterDeps(); err != nil {
			return nil, err
		}
	}
	s.engine, err = actors.Start(o.EngineConfig(), actors.Deps{
		Store: s.store, Sealer: s.keys, Gateway: s.gw, SMS: sms, Prompts: s.queue, Events: s.events,
		Clock: s.clock, Logger: log, Cluster: cd,
	})
	if err != nil {
		return nil, fmt.Errorf("start actors: %w", err)
	}
	if s.members != nil {
		if s.activeSub, err = s.serveActiveTenants(); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	if s.hooks, err = events.NewWebhooks(s.store, s.bus, events.WebhookOptions{Sealer: s.keys,
		AllowPrivate: o.Webhooks.AllowPrivate, Logger: log.With("component", "webhooks")}); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	// The notifier: WeChat template messages when an official account is
	// configured, otherwise the dev inbox, which keeps what each openid
	// would receive. A prompt the notifier gives up on is reported to its
	// account. Work-queue consumers may not overlap: switching notifiers
	// removes the other one (its pending prompts stay in the stream).
	engine := s.engine
	undeliverable := func(p prompts.Prompt, err error) { engine.PromptUndeliverable(p.Tenant, p.Account, p.ID, err.Error()) }
	name, other := "inbox", "wechat"
	var notifier prompts.Notifier
	if o.WeChat.Enabled() {
		s.wechat, err = wechat.New(o.WeChatConfig(), wechat.Options{Clock: s.clock, Logger: log.With("component", "wechat")})
		if err != nil {
			return nil, fmt.Errorf("wechat: %w", err)
		}
		if err := s.wechat.Ping(ctx); err != nil {
			log.Warn("wechat: no access token yet (check AppSecret and the IP whitelist)", "err", err)
		}
		name, other, notifier = "wechat", "inbox", s.wechat.Notifier()
	} else {
		s.inbox = prompts.NewInbox()
		notifier = s.inbox
	}
	if err := prompts.RemoveConsumer(ctx, s.bus, other); err != nil {
		return nil, fmt.Errorf("remove the %s consumer: %w", other, err)
	}
	s.consumer, err = prompts.Consume(ctx, s.bus, name, notifier, prompts.ConsumerOptions{Logger: log.With("component", "notifier"),
		OnUndeliverable: undeliverable})
	if err != nil {
		return nil, fmt.Errorf("prompt consumer: %w", err)
	}
	return s, nil
}

// keyringOptions says where the master keys of o are: the key file and the
// environment variable, with a missing key file created in dev mode.
func keyringOptions(o config.Options, log *slog.Logger) persistence.KeyringOptions {
	keyFile := o.KeyPath()
	if !o.Dev && o.KeyFile == "" {
		// In production the keys may come from the environment alone: the
		// default key file is then optional, a named one is not.
		if _, statErr := os.Stat(keyFile); errors.Is(statErr, fs.ErrNotExist) {
			keyFile = ""
		}
	}
	return persistence.KeyringOptions{File: keyFile, Env: o.KeysEnv, CreateIfMissing: o.Dev, Logger: log}
}

// Close stops what reads and delivers first (the notifier, the webhooks),
// then the engine (every actor, children first), then flushes the prompt
// queue and the events, closes NATS and the bureau client, and closes the
// store once every queued write is committed. It is safe on a partly built
// stack and to call twice.
func (s *stack) Close() error {
	if s.consumer != nil {
		s.consumer.Stop()
		s.consumer = nil
	}
	if s.hooks != nil {
		s.hooks.Close()
		s.hooks = nil
	}
	if s.activeSub != nil {
		_ = s.activeSub.Unsubscribe()
		s.activeSub = nil
	}
	if s.engine != nil {
		s.engine.Stop()
		s.engine = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.queue != nil {
		_ = s.queue.Close(ctx)
		s.queue = nil
	}
	if s.events != nil {
		_ = s.events.Close(ctx)
		s.events = nil
	}
	if s.nonces != nil {
		s.nonces.Close()
		s.nonces = nil
	}
	var err error
	if s.store != nil && s.bolt == nil {
		// The cluster's store sits on the bus: close it first.
		err = s.store.Close()
		s.store = nil
	}
	if s.bus != nil {
		s.bus.Close()
		s.bus = nil
	}
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
	if s.bolt != nil {
		err = s.bolt.Close()
		s.bolt, s.store = nil, nil
	}
	return err
}

// httpDeps is what the HTTP and NATS APIs are built from: the engine, the
// store, the operator token, the webhooks, the operator API, the dev inbox
// in dev mode, and what /readyz, /ops/status and /metrics read. Work that
// outlives its request (a store dump's stream) ends when ctx does.
func (s *stack) httpDeps(ctx context.Context, ready func() bool, started time.Time) httpapi.Deps {
	engine, log := s.engine, s.log
	d := httpapi.Deps{
		Engine: engine, Store: actors.NewStoreProbe(s.probedStore()), Ready: ready, StoreLatency: s.storeLatency,
		Checks: []httpapi.Check{{Name: "nats", Fn: func(context.Context) error {
			if !s.bus.Ready() {
				return errors.New("nats not connected")
			}
			return nil
		}}},
		Node: s.opts.Node(), Version: version, Started: started, Clock: s.clock, Logger: log.With("component", "http"),
		OperatorToken: s.opts.OperatorToken,
		Nonces:        httpapi.NewMemoryNonces(0),
		Idempotency:   httpapi.NewMemoryIdempotency(0),
		OpsRoutes: func(ops fiber.Router) {
			opsapi.Register(ops, engine, opsapi.WithLogger(log.With("component", "ops")))
			opsapi.RegisterProvisioning(ops, engine, opsapi.WithLogger(log.With("component", "ops")))
			opsapi.RegisterImport(ops, engine, opsapi.WithLogger(log.With("component", "ops")))
			opsapi.RegisterDump(ops, func(ctx context.Context, w io.Writer) error {
				_, err := persistence.Dump(ctx, s.store, w, time.Now())
				return err
			}, opsapi.WithLogger(log.With("component", "ops")), opsapi.WithBaseContext(ctx))
		},
		QueueDepths: func() map[string]int64 {
			return map[string]int64{"prompts.publishing": s.queue.Stats().Pending, "events.publishing": s.events.Stats().Pending}
		},
		BureauStats: func() []httpapi.BureauStat {
			var out []httpapi.BureauStat
			for _, st := range s.gw.Stats() {
				out = append(out, httpapi.BureauStat{Op: st.Op, Outcome: st.Outcome, Count: st.Count, Seconds: st.Seconds, Buckets: st.Buckets})
			}
			return out
		},
		PromptStates: s.promptStates,
		NATSPending: func() map[string]int64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			cs, err := s.consumer.Stats(ctx)
			if err != nil {
				return nil
			}
			name := s.consumer.Name()
			return map[string]int64{name: int64(cs.Pending), name + ".ack_pending": int64(cs.AckPending)}
		},
	}
	if s.hooks != nil {
		d.Webhooks = actors.NewWebhookRegistry(s.hooks)
	}
	if s.nonces != nil {
		d.Nonces = s.nonces
		d.Idempotency = httpapi.NewSharedIdempotency(s.idempotency, log.With("component", "http"))
	}
	if s.members != nil {
		d.Cluster = s.clusterStatus
		d.ClusterCounters = s.clusterCounters
		members := s.members
		d.Checks = append(d.Checks, httpapi.ReadyCheck("cluster", members.Serving))
	}
	if s.opts.DevInbox() && s.inbox != nil {
		d.DevInbox = actors.NewDevInbox(s.inbox).Messages
	}
	return d
}

// promptStates counts the prompts by state for /ops/status and the
// etaxd_prompts gauge: publishing (accepted, not yet stored in JetStream),
// queued (stored, not yet handed to the notifier), delivering (with the
// notifier, not yet acknowledged), and since this start delivered, expired
// (acknowledged unseen: their time had passed) and failed (the queue gave
// up or the notifier refused them for good). The JetStream figures are
// left out when the server cannot be asked within 2 s.
func (s *stack) promptStates() map[string]int64 {
	qs := s.queue.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cs, err := s.consumer.Stats(ctx)
	m := map[string]int64{
		"publishing": qs.Pending,
		"delivered":  int64(cs.Delivered),
		"expired":    int64(cs.Expired),
		"failed":     int64(qs.Failed + cs.Terminated),
	}
	if err == nil {
		m["queued"], m["delivering"] = int64(cs.Pending), int64(cs.AckPending)
	}
	return m
}

// h5Deps is what the H5 pages are built from: the engine, the cookie key,
// WeChat OAuth2 sign-in when an official account is configured (the
// callback is public_url + /h5/wx/oauth; the dev sign-in is then not
// mounted), and in dev mode the dev inbox page's store and the guard that
// keeps the dev pages to this machine.
func (s *stack) h5Deps(cookieKey []byte) h5.Deps {
	d := h5.Deps{Engine: s.engine, CookieKey: cookieKey, Dev: s.opts.Dev, Prefix: "/h5", PublicURL: s.opts.BaseURL(),
		Clock: s.clock, Logger: s.log.With("component", "h5")}
	if s.opts.Dev {
		// The dev sign-in and inbox page: this machine's browser only.
		d.DevGuard = httpapi.CheckLocal
	}
	if s.wechat != nil {
		d.OAuth = s.wechat
	}
	if s.opts.DevInbox() && s.inbox != nil {
		d.Inbox = actors.NewDevInbox(s.inbox)
	}
	return d
}

// keepSimPersons loads the in-process simulator's persons from path, where
// an earlier run kept them, and keeps every later change there (mode 0600:
// the file holds the simulated bureau's passwords). A person's password
// reset through etaxd (F11) thus still logs in after a restart. The file is
// in the shape of etax-sim's --seed file.
func keepSimPersons(sim *taxbureau.Simulator, path string) error {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("simulator persons: %w", err)
	default:
		ps, err := taxbureau.DecodePersons(f)
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("simulator persons in %s (delete it to start the simulator empty): %w", path, err)
		}
		for _, p := range ps {
			if err := sim.AddPerson(p); err != nil {
				return fmt.Errorf("simulator persons in %s (delete it to start the simulator empty): %s: %w", path, p.Username, err)
			}
		}
	}
	sim.KeepPersons(func(ps []taxbureau.Person) error {
		var buf bytes.Buffer
		if err := taxbureau.EncodePersons(&buf, ps); err != nil {
			return err
		}
		return writeFileAtomic(path, buf.Bytes())
	})
	return nil
}
