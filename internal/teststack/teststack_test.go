package teststack_test

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/teststack"
	"github.com/etaxd/etaxd/internal/teststack/base"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/prompts"
)

// TestMain fails the package if a stack outlives its test: every cleanup
// must stop what New started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LibraryGoroutines()...)
}

// TestDefaults: the zero Options give a running engine on a fake clock at
// T0 that the simulator and the store share, logging into Logs.
func TestDefaults(t *testing.T) {
	s := teststack.New(t, teststack.Options{})
	if s.Fake == nil || s.Clock != clock.Clock(s.Fake) || !s.Clock.Now().Equal(teststack.T0) {
		t.Fatalf("clock = %v (fake %v), want a fake clock at %v", s.Clock, s.Fake, teststack.T0)
	}
	if s.Bus != nil || s.Queue != nil || s.Inbox != nil {
		t.Fatal("NATS started without Options.NATS")
	}
	info, err := s.Engine.CreateTenant(s.Ctx(), "t1", "测试租户", "ACT-CODE-1")
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "t1" {
		t.Fatalf("tenant = %+v", info)
	}
	if _, err := s.Engine.Tenant(s.Ctx(), "t1"); err != nil {
		t.Fatal(err)
	}
	if s.Logs.String() == "" {
		t.Fatal("the engine logged nothing into Logs")
	}
}

// TestRealClock: Options.Clock replaces the fake clock everywhere.
func TestRealClock(t *testing.T) {
	s := teststack.New(t, teststack.Options{Options: base.Options{Clock: clock.Real{}, Quiet: true}})
	if s.Fake != nil {
		t.Fatal("Fake set on a real-clock stack")
	}
	if d := time.Since(s.Clock.Now()); d < 0 || d > time.Hour {
		t.Fatalf("clock is %v off the wall clock", d)
	}
	if _, err := s.Engine.CreateTenant(s.Ctx(), "t1", "测试租户", ""); err != nil {
		t.Fatal(err)
	}
	if s.Logs.String() != "" {
		t.Fatalf("a quiet stack logged: %s", s.Logs.String())
	}
}

// TestNATS: with Options.NATS a prompt published to the queue reaches the
// inbox through JetStream, its expiry judged on the stack's fake clock.
func TestNATS(t *testing.T) {
	s := teststack.New(t, teststack.Options{NATS: true})
	now := s.Clock.Now()
	p := prompts.Prompt{ID: "p1", Tenant: "t1", Account: "a1", Kind: prompts.KindSMSCode, OpenID: "o_1",
		Message: "测试", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if err := s.Queue.Publish(s.Ctx(), p); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := s.Inbox.Messages("o_1"); len(got) != 1 || got[0].ID != "p1" {
			return fmt.Errorf("inbox holds %+v", got)
		}
		return nil
	})
}

// TestBaseKeys: each stack gets its own key; a given keyring is used.
func TestBaseKeys(t *testing.T) {
	keys := base.NewKeys(t)
	a := base.New(t, base.Options{Keys: keys})
	b := base.New(t, base.Options{})
	if a.Keys != keys || b.Keys == keys || a.Dir == b.Dir {
		t.Fatal("stacks share keys or directories")
	}
	sealed, err := a.Keys.Seal([]byte("secret"), "aad")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Keys.Open(sealed, "aad"); err != nil || string(got) != "secret" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := b.Keys.Open(sealed, "aad"); err == nil {
		t.Fatal("another stack's key opened the secret")
	}
}
