package events

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/natsbus"
)

func newEventStream(t *testing.T, b *natsbus.Bus, o EventStreamOptions) *EventStream {
	t.Helper()
	o.Logger = quietLogger()
	s, err := NewEventStream(testCtx(t), b, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func TestEventsArePublishedOnTenantSubjects(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	es := newEventStream(t, b, EventStreamOptions{})
	sub, err := b.Conn().SubscribeSync(EventSubjectPrefix + ".>")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() // a subscription with unread messages would hold up the drain in Close
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	events := []Event{
		{ID: "e1", Type: EventSessionReady, Tenant: "t1", Account: "a1", TaxNo: "91310000X", Channel: "issue", Time: exp.Add(-3 * time.Hour), ExpiresAt: &exp},
		{ID: "e2", Type: EventAccountLocked, Tenant: "t-2", Account: "a9", Reason: "password", Time: exp},
		{ID: "e3", Type: EventAuthRequired, Tenant: "t1", Account: "a1", PromptID: "p1", Time: exp},
	}
	for _, ev := range events {
		es.Emit(ev)
	}
	es.Emit(events[0])                                                     // same ID: stored once
	es.Emit(Event{ID: "bad", Type: EventSessionLost, Tenant: "t.1"})       // not a subject token
	es.Emit(Event{ID: "bad2", Type: EventSessionLost, Tenant: "*"})        // wildcard
	es.Emit(Event{ID: "", Type: EventSessionLost, Tenant: "t1"})           // no ID
	es.Emit(Event{ID: "bad3", Type: "session ready", Tenant: "t1"})        // type not a subject
	es.Emit(Event{ID: "bad4", Type: EventSessionLost, Tenant: "t1/other"}) // would escape the store key

	// Core subscribers see the duplicate publish too; the stream does not.
	want := map[string]string{
		"etaxd.events.t1.session.ready":   "e1",
		"etaxd.events.t-2.account.locked": "e2",
		"etaxd.events.t1.auth.required":   "e3",
	}
	got := map[string]string{}
	for len(got) < len(want) {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		var ev Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		got[m.Subject] = ev.ID
		if ev.ID == "e1" && (ev.ExpiresAt == nil || !ev.ExpiresAt.Equal(exp) || ev.TaxNo != "91310000X") {
			t.Fatalf("e1 came back as %+v", ev)
		}
	}
	for subj, id := range want {
		if got[subj] != id {
			t.Errorf("%s carried %q, want %q", subj, got[subj], id)
		}
	}

	testutil.Eventually(t, 10*time.Second, func() error {
		s := es.Stats()
		if s.Published != 4 || s.Pending != 0 {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
	if s := es.Stats(); s.Dropped != 5 || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
	st, err := b.JetStream().Stream(ctx, EventStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 3 {
		t.Fatalf("%s holds %d events, want 3 (the duplicate dropped)", EventStreamName, n)
	}
	// A tenant reads its own events back from the stream.
	m, err := st.GetLastMsgForSubject(ctx, "etaxd.events.t-2.>")
	if err != nil || string(m.Data) == "" {
		t.Fatalf("last t-2 event: %v", err)
	}
}

func TestEventEmitNeverBlocks(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	es := newEventStream(t, b, EventStreamOptions{Buffer: 1, PublishTimeout: 100 * time.Millisecond})
	// Without its stream every publish fails slowly: the buffer fills and
	// Emit drops instead of waiting.
	if err := b.JetStream().DeleteStream(ctx, EventStreamName); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 10 {
		es.Emit(Event{ID: fmt.Sprintf("e%d", i), Type: EventSessionLost, Tenant: "t1"})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Emit blocked for %s", d)
	}
	if s := es.Stats(); s.Dropped < 8 {
		t.Fatalf("stats %+v", s)
	}
	if err := es.Close(ctx); err != nil {
		t.Fatal(err)
	}
	es.Emit(Event{ID: "late", Type: EventSessionLost, Tenant: "t1"}) // after Close: dropped, no panic
}
