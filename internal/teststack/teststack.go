package teststack

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/internal/teststack/base"
	"github.com/etaxd/etaxd/natsbus"
	"github.com/etaxd/etaxd/prompts"
)

// T0 is when the default fake clock starts (base.T0).
var T0 = base.T0

// Options tune New; the zero value is the usual stack (see the package
// documentation).
type Options struct {
	base.Options
	// Engine configures the engine; nil means actors.DefaultConfig().
	Engine *actors.Config
	// NATS adds embedded NATS, the prompt queue (the engine's publisher
	// instead of Stack.Prompts) and an inbox consumer.
	NATS bool
}

// Stack is the running stack: the parts (embedded), the engine and, with
// Options.NATS, the bus, the queue and the inbox the prompts reach.
type Stack struct {
	*base.Stack
	// Config is what the engine was started with.
	Config actors.Config
	Engine *actors.Engine

	Bus      *natsbus.Bus
	Queue    *prompts.Queue
	Inbox    *prompts.Inbox
	Consumer *prompts.Consumer
}

// New builds the stack of o and stops it when the test ends.
func New(t testing.TB, o Options) *Stack {
	t.Helper()
	s := &Stack{Stack: base.New(t, o.Options), Config: actors.DefaultConfig()}
	if o.Engine != nil {
		s.Config = *o.Engine
	}
	var pub prompts.Publisher = s.Prompts
	if o.NATS {
		s.startNATS(t)
		pub = s.Queue
	}
	var err error
	s.Engine, err = actors.Start(s.Config, actors.Deps{Store: s.Store, Sealer: s.Keys, Gateway: s.Sim, SMS: s.SMS,
		Prompts: pub, Events: s.Events, Clock: s.Clock, Logger: s.Logger.With("component", "actors")})
	if err != nil {
		t.Fatalf("teststack: start engine: %v", err)
	}
	t.Cleanup(s.Engine.Stop)
	return s
}

// startNATS starts the bus, the queue and the inbox consumer, closed in
// reverse order at cleanup (after the engine stopped publishing).
func (s *Stack) startNATS(t testing.TB) {
	t.Helper()
	var err error
	s.Bus, err = natsbus.StartEmbedded(natsbus.EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "nats"),
		Logger: s.Logger.With("component", "nats")})
	if err != nil {
		t.Fatalf("teststack: start NATS: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Bus.Close(); err != nil {
			t.Errorf("close NATS: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.Queue, err = prompts.NewQueue(ctx, s.Bus, prompts.QueueOptions{Clock: s.Clock,
		Logger: s.Logger.With("component", "prompts")}); err != nil {
		t.Fatalf("teststack: prompt queue: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Queue.Close(ctx); err != nil {
			t.Errorf("close prompt queue: %v", err)
		}
	})
	s.Inbox = prompts.NewInbox()
	if s.Consumer, err = prompts.Consume(ctx, s.Bus, "inbox", s.Inbox, prompts.ConsumerOptions{Clock: s.Clock,
		Logger: s.Logger.With("component", "notifier")}); err != nil {
		t.Fatalf("teststack: prompt consumer: %v", err)
	}
	t.Cleanup(s.Consumer.Stop)
}

// Ctx returns a context that ends with the test, or after 20 s.
func (s *Stack) Ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	s.T.Cleanup(cancel)
	return ctx
}
