package base

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

// T0 is when the fake clock starts: 2026-11-27 09:00 China time, the date
// etaxd's tests are written against.
var T0 = time.Date(2026, 11, 27, 9, 0, 0, 0, domain.ChinaTime)

// Options tune New. The zero value is the usual test stack: a fake clock at
// T0, a fresh store and keyring, the default simulator, debug logs into
// Stack.Logs.
type Options struct {
	// Dir is where the store lives; empty means t.TempDir().
	Dir string
	// Clock is the clock of every part; nil means a clock.Fake at T0
	// (Stack.Fake). Pass clock.Real{} for a wall-clock stack (benchmarks).
	Clock clock.Clock
	// Keys seals secrets; nil means a keyring with one random key,
	// version 1.
	Keys *persistence.Keyring
	// Bolt configures the store; its Clock defaults to the stack's.
	Bolt persistence.BoltOptions
	// Sim configures the simulator; nil means taxbureau.DefaultSimConfig().
	Sim *taxbureau.SimConfig
	// Quiet discards the logs (benchmarks); otherwise they go, at debug
	// level, into Stack.Logs.
	Quiet bool
	// NoCheck skips the store's consistency check at cleanup (a benchmark's
	// large store).
	NoCheck bool
}

// Stack is the parts New built.
type Stack struct {
	T testing.TB
	// Dir is the directory of the store file (etaxd.db).
	Dir string
	// Clock is what every part reads; Fake is the same clock when it is
	// the default fake one, nil otherwise.
	Clock clock.Clock
	Fake  *clock.Fake
	Store *persistence.Bolt
	Keys  *persistence.Keyring
	Sim   *taxbureau.Simulator
	SMS   *taxbureau.SimSMSProvider
	// Prompts collects the prompts published to it; Events the client
	// events.
	Prompts *prompts.Chan
	Events  *events.EventLog
	// Logs holds what Logger wrote (nothing when Quiet).
	Logs   *testutil.SyncBuffer
	Logger *slog.Logger
}

// New builds the parts on o and registers their cleanup: at the end of the
// test the store is checked for consistency (unless NoCheck) and closed,
// after everything the test registered later has stopped.
func New(t testing.TB, o Options) *Stack {
	t.Helper()
	s := &Stack{T: t, Dir: o.Dir, Clock: o.Clock, Keys: o.Keys, Prompts: prompts.NewChan(), Events: &events.EventLog{},
		Logs: &testutil.SyncBuffer{}}
	if s.Dir == "" {
		s.Dir = t.TempDir()
	}
	if s.Clock == nil {
		s.Fake = clock.NewFake(T0)
		s.Clock = s.Fake
	}
	if o.Quiet {
		s.Logger = slog.New(slog.DiscardHandler)
	} else {
		s.Logger = slog.New(slog.NewTextHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if s.Keys == nil {
		s.Keys = NewKeys(t)
	}
	bo := o.Bolt
	if bo.Clock == nil {
		bo.Clock = s.Clock
	}
	var err error
	if s.Store, err = persistence.OpenBolt(filepath.Join(s.Dir, "etaxd.db"), bo); err != nil {
		t.Fatalf("teststack: open store: %v", err)
	}
	t.Cleanup(func() {
		if !o.NoCheck {
			if err := s.Store.Check(); err != nil && !errors.Is(err, persistence.ErrClosed) {
				t.Errorf("store consistency: %v", err)
			}
		}
		if err := s.Store.Close(); err != nil && !errors.Is(err, persistence.ErrClosed) {
			t.Errorf("close store: %v", err)
		}
	})
	sc := taxbureau.DefaultSimConfig()
	if o.Sim != nil {
		sc = *o.Sim
	}
	s.Sim = taxbureau.NewSimulator(sc, s.Clock)
	s.SMS = taxbureau.NewSimSMSProvider(s.Sim)
	return s
}

// NewKeys returns a keyring with one random master key, version 1.
func NewKeys(t testing.TB) *persistence.Keyring {
	t.Helper()
	key := make([]byte, persistence.KeyLen)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		t.Fatal(err)
	}
	k, err := persistence.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatalf("teststack: keyring: %v", err)
	}
	return k
}
