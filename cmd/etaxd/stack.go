package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

// stack is etaxd's core as one process runs it: the bbolt store, the
// master keys, the in-process tax-bureau simulator with its hosted-number
// provider, the prompt queue and the actor engine. serve and torture build
// the same stack, so the durability test exercises what serve runs.
type stack struct {
	opts    config.Options
	log     *slog.Logger
	store   *persistence.Bolt
	keys    *persistence.Keyring
	sim     *taxbureau.Simulator
	sms     *taxbureau.SimSMSProvider
	prompts *prompts.Chan
	engine  *actors.Engine

	stopDrain context.CancelFunc
	drained   chan struct{}
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
	s := &stack{opts: o, log: log}
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

	s.store, err = persistence.OpenBolt(o.DBPath(), persistence.BoltOptions{})
	if err != nil {
		if errors.Is(err, persistence.ErrLocked) {
			return nil, fmt.Errorf("open store: %w (is another etaxd using %s?)", err, o.DataDir)
		}
		return nil, fmt.Errorf("open store: %w", err)
	}

	sc := o.SimConfig()
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("simulator configuration: %w", err)
	}
	s.sim = taxbureau.NewSimulator(sc, clock.Real{})
	s.sms = taxbureau.NewSimSMSProvider(s.sim)

	s.prompts = prompts.NewChan()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopDrain, s.drained = cancel, make(chan struct{})
	go s.drainPrompts(ctx)

	s.engine, err = actors.Start(o.EngineConfig(), actors.Deps{
		Store: s.store, Sealer: s.keys, Gateway: s.sim, SMS: s.sms, Prompts: s.prompts,
		Clock: clock.Real{}, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("start actors: %w", err)
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

// drainPrompts logs each prompt until the queue closes. Until the notifiers
// arrive (next issue) the log is where a developer sees them. A prompt
// carries no secret; only its identifiers are logged.
func (s *stack) drainPrompts(ctx context.Context) {
	defer close(s.drained)
	for {
		p, err := s.prompts.Next(ctx)
		if err != nil {
			return
		}
		s.log.Info("prompt", "id", p.ID, "kind", p.Kind, "tenant", p.Tenant, "account", p.Account, "openid", p.OpenID)
	}
}

// Close stops the engine (every actor, children first), then the prompt
// queue, then closes the store once every queued write is committed. It is
// safe on a partly built stack and to call twice.
func (s *stack) Close() error {
	if s.engine != nil {
		s.engine.Stop()
		s.engine = nil
	}
	if s.prompts != nil {
		s.prompts.Close()
		s.stopDrain()
		<-s.drained
		s.prompts = nil
	}
	var err error
	if s.store != nil {
		err = s.store.Close()
		s.store = nil
	}
	return err
}
