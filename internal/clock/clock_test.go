package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFake(t0)
	var got []string
	c.AfterFunc(2*time.Minute, func() { got = append(got, "b") })
	c.AfterFunc(time.Minute, func() { got = append(got, "a") })
	stopped := c.AfterFunc(90*time.Second, func() { got = append(got, "x") })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop must report true once")
	}
	c.Advance(30 * time.Second)
	if len(got) != 0 || c.Pending() != 2 {
		t.Fatalf("fired early: %v, pending %d", got, c.Pending())
	}
	c.Advance(5 * time.Minute)
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("order = %v", got)
	}
	if !c.Now().Equal(t0.Add(5*time.Minute + 30*time.Second)) {
		t.Fatalf("now = %v", c.Now())
	}
}

// TestFakeCallbackSchedules: a callback may schedule another timer, which
// fires in the same Advance when due.
func TestFakeCallbackSchedules(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	n := 0
	var tick func()
	tick = func() {
		n++
		if n < 3 {
			c.AfterFunc(time.Second, tick)
		}
	}
	c.AfterFunc(time.Second, tick)
	c.Advance(10 * time.Second)
	if n != 3 {
		t.Fatalf("ticks = %d", n)
	}
	c.Set(time.Unix(5, 0)) // never backwards
	if !c.Now().Equal(time.Unix(10, 0)) {
		t.Fatalf("went backwards to %v", c.Now())
	}
}

// TestRealIsUTC: the wall clock answers in UTC whatever the host's time
// zone, so every time etaxd stores, answers or exports is RFC 3339 with Z.
func TestRealIsUTC(t *testing.T) {
	saved := time.Local
	time.Local = time.FixedZone("CST", 8*3600) // a host set to China time
	t.Cleanup(func() { time.Local = saved })
	if now := (Real{}).Now(); now.Location() != time.UTC {
		t.Errorf("Real.Now() = %s, in %v, want UTC", now.Format(time.RFC3339), now.Location())
	}
}
